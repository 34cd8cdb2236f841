import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ComputeBackend, JobHandle, JobRequest, JobState } from './port.js';

export interface ComputeHarness {
  backend(): Promise<ComputeBackend>;
  /** A fresh directory the backend's jobs can read and write (shared with the nodes). */
  dir(): string;
}

/** Polls until the job leaves pending/running (or the deadline passes). */
export async function waitDone(b: ComputeBackend, h: JobHandle, timeoutMs = 60_000): Promise<JobState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await b.status([h])).get(h.id)!;
    if (s && s.state !== 'pending' && s.state !== 'running') return s;
    if (Date.now() > deadline) throw new Error(`job ${h.id} still ${s?.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function waitRunning(b: ComputeBackend, h: JobHandle, timeoutMs = 60_000): Promise<JobState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await b.status([h])).get(h.id)!;
    if (s && s.state !== 'pending') return s;
    if (Date.now() > deadline) throw new Error(`job ${h.id} still pending after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A job request in a fresh folder under `dir` (shared by the backends' own tests). */
export function jobRequest(dir: string, command: string, over: Partial<JobRequest> = {}): JobRequest {
  const runId = randomUUID();
  const d = join(dir, runId);
  mkdirSync(d, { recursive: true });
  return {
    runId,
    command,
    cwd: d,
    env: { CAIRN_RUN_ID: runId, GREETING: 'hello from cairn' },
    stdoutPath: join(d, 'stdout.log'),
    stderrPath: join(d, 'stderr.log'),
    resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 0 },
    gracePeriodS: 5,
    requeue: false,
    ...over,
  };
}

/**
 * The contract of port.ts against a real backend: exit codes, output capture, environment,
 * cancel with a grace period (SIGTERM first), the time limit. `available` returning false
 * skips the suite (the caller printed why).
 */
export function computeBackendConformance(
  name: string,
  harness: () => ComputeHarness,
  available: () => Promise<boolean> = async () => true,
  timeoutMs = 90_000,
  opts: { concurrent?: boolean } = {},
): void {
  // Concurrent for a backend whose jobs mostly wait on a scheduler (Slurm's time limit alone
  // takes 60 to 90 s): the cases share nothing but the backend, so their waits may overlap.
  (opts.concurrent ? describe.concurrent : describe)(`compute backend conformance: ${name}`, () => {
    it(
      'runs a command to completion: exit 0, stdout/stderr captured, environment and cwd set',
      { timeout: timeoutMs },
      async (ctx) => {
        if (!(await available())) return ctx.skip();
        const h = harness();
        const b = await h.backend();
        const req = jobRequest(h.dir(), 'echo "$GREETING $CAIRN_RUN_ID"; echo oops >&2; pwd');
        const handle = await b.submit(req);
        expect(handle.backend).toBe(b.name);
        const s = await waitDone(b, handle, timeoutMs - 5000);
        expect([s.state, s.exitCode]).toEqual(['completed', 0]);
        expect(readFileSync(req.stdoutPath, 'utf8')).toBe(`hello from cairn ${req.runId}\n${req.cwd}\n`);
        expect(readFileSync(req.stderrPath, 'utf8')).toBe('oops\n');
        expect(s.startedAt).not.toBeNull();
        expect(s.endedAt).not.toBeNull();
      },
    );

    it('a non-zero exit is failed with its exit code', { timeout: timeoutMs }, async (ctx) => {
      if (!(await available())) return ctx.skip();
      const h = harness();
      const b = await h.backend();
      const s = await waitDone(b, await b.submit(jobRequest(h.dir(), 'echo about to fail; exit 3')), timeoutMs - 5000);
      expect([s.state, s.exitCode]).toEqual(['failed', 3]);
    });

    it(
      'cancel sends SIGTERM first: the job gets its grace period to write a checkpoint',
      { timeout: timeoutMs },
      async (ctx) => {
        if (!(await available())) return ctx.skip();
        const h = harness();
        const b = await h.backend();
        const req = jobRequest(
          h.dir(),
          `trap 'echo saved > checkpoint.txt; exit 143' TERM; echo started > started.txt; while true; do sleep 0.1; done`,
        );
        const handle = await b.submit(req);
        await waitRunning(b, handle, timeoutMs / 2);
        const started = Date.now();
        while (!exists(join(req.cwd, 'started.txt')) && Date.now() - started < 30_000)
          await new Promise((r) => setTimeout(r, 100));
        await b.cancel(handle);
        const s = await waitDone(b, handle, timeoutMs / 2);
        expect(s.state).toBe('cancelled');
        expect(readFileSync(join(req.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
      },
    );

    // `run cancel` right after a dispatcher handed the job over (the local supervisor had not yet
    // written its pid file): the cancel did nothing, said nothing, and the job ran to its end.
    it('a cancel right after submit stops the job: it never runs to its end', { timeout: timeoutMs }, async (ctx) => {
      if (!(await available())) return ctx.skip();
      const h = harness();
      const b = await h.backend();
      const req = jobRequest(h.dir(), 'sleep 2; echo ran > ran.txt');
      const handle = await b.submit(req);
      await b.cancel(handle);
      const s = await waitDone(b, handle, timeoutMs - 5000);
      expect(s.state).toBe('cancelled');
      // Had it gone on, its file would be there 2 s after it started.
      await new Promise((r) => setTimeout(r, 3000));
      expect(exists(join(req.cwd, 'ran.txt'))).toBe(false);
    });

    it(
      'a job past its time limit is stopped and marked timeout (after SIGTERM and the grace period)',
      { timeout: timeoutMs },
      async (ctx) => {
        if (!(await available())) return ctx.skip();
        const h = harness();
        const b = await h.backend();
        // Slurm's time limit is in minutes: one minute is the shortest real limit.
        const limit = b.name === 'slurm' ? 60 : 2;
        const req = jobRequest(
          h.dir(),
          `trap 'echo term > got-term.txt; exit 143' TERM; while true; do sleep 0.1; done`,
          { resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: limit }, gracePeriodS: 2 },
        );
        const s = await waitDone(b, await b.submit(req), timeoutMs);
        expect(s.state).toBe('timeout');
      },
    );
  });
}

function exists(p: string): boolean {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}
