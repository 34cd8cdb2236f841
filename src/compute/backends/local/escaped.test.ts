import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobRequest, waitDone } from '../conformance.case.js';
import { LocalBackend } from './local-backend.js';

/**
 * Jobs whose child leaves the job's process group with `setsid` (what a daemon does): signals
 * to the group never reach it, so before the supervisor looked for the job's mark it kept
 * running after the run had ended, been cancelled or timed out.
 */
const root = mkdtempSync(join(tmpdir(), 'cairn-escaped-'));
const b = new LocalBackend({ stateDir: join(root, 'state'), gpus: [], sampleIntervalMs: 200 });
const runIds: string[] = [];

/** Live (not zombie) processes whose environment names the run: the test's own view, not the supervisor's. */
function processesOf(runId: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`).includes(`CAIRN_RUN_ID=${runId}\0`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

// Whatever happens, the test leaves no `sleep 300` behind.
afterAll(() => {
  for (const id of runIds) for (const pid of processesOf(id)) process.kill(pid, 'SIGKILL');
});

/** The escaped child writes its pid once it is in its own session; the shell waits for that. */
const ESCAPE = `setsid sh -c 'echo $$ > escaped.pid; exec sleep 300' & while [ ! -s escaped.pid ]; do sleep 0.05; done`;

async function waitFor(path: string): Promise<void> {
  for (let i = 0; !existsSync(path) || readFileSync(path, 'utf8').trim() === ''; i++) {
    if (i > 600) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function escapedJob(command: string, over: Parameters<typeof jobRequest>[2] = {}) {
  const req = jobRequest(join(root, 'jobs'), command, { gracePeriodS: 1, ...over });
  runIds.push(req.runId);
  const h = await b.submit(req);
  await waitFor(join(req.cwd, 'escaped.pid'));
  const pid = Number(readFileSync(join(req.cwd, 'escaped.pid'), 'utf8'));
  // It really left the job's session: a group signal would not reach it.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(
    readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2,
  );
  expect(Number(stat.split(' ')[3])).toBe(pid);
  return { req, h };
}

describe('local backend: a job child that calls setsid does not outlive its run', () => {
  it('the job exits: the escaped child is stopped, and the job ends only after it', { timeout: 90_000 }, async () => {
    const { req, h } = await escapedJob(`${ESCAPE}; echo left`);
    expect((await waitDone(b, h, 60_000)).state).toBe('completed');
    expect(processesOf(req.runId)).toEqual([]);
  });

  it('cancel and the time limit stop the escaped child too', { timeout: 90_000 }, async () => {
    const cancelled = await escapedJob(`${ESCAPE}; sleep 300`);
    const timed = await escapedJob(`${ESCAPE}; sleep 300`, {
      resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 3 },
    });
    await b.cancel(cancelled.h);
    expect((await waitDone(b, cancelled.h, 60_000)).state).toBe('cancelled');
    expect((await waitDone(b, timed.h, 60_000)).state).toBe('timeout');
    expect(processesOf(cancelled.req.runId)).toEqual([]);
    expect(processesOf(timed.req.runId)).toEqual([]);
  });
});
