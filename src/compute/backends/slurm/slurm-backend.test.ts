import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../../core/errors.js';
import { lockSlurmCluster, shareSlurmCluster, slurmEnv, slurmFacts } from '../../../test-support/slurm.js';
import type { SlurmFacts } from '../../../test-support/slurm.js';
import { computeBackendConformance, jobRequest, waitDone, waitRunning } from '../conformance.case.js';
import type { JobHandle, JobRequest, JobState } from '../port.js';
import { SlurmBackend } from './slurm-backend.js';

// Another test (a file of this run or another session's) may be failing the one node on purpose:
// the concurrent cases share the cluster, waiting for that; the one-at-a-time ones below take it
// alone, waiting for every sharer (the examples', the CLI's and the server's Slurm runs).
let unlock: (() => void) | undefined;
const release = () => {
  unlock?.();
  unlock = undefined;
};
beforeAll(async () => {
  const f = slurmFacts();
  if (f) unlock = await shareSlurmCluster(f);
}, 660_000);
afterAll(release);

// One node: the jobs see the test's files, so a directory under /tmp is "shared storage".
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const d = mkdtempSync('/tmp/cairn-slurm-jobs-');
  dirs.push(d);
  return d;
}

function need(): SlurmFacts {
  const f = slurmFacts();
  if (!f) throw new Error('Slurm unavailable');
  return f;
}

function backend(f: SlurmFacts): SlurmBackend {
  return new SlurmBackend({ partition: f.partition, env: slurmEnv(f) });
}

function job(dir: string, command: string, over: Partial<JobRequest> = {}): JobRequest {
  return jobRequest(dir, command, { env: {}, ...over });
}

function scontrol(f: SlurmFacts, ...args: string[]): void {
  const res = spawnSync('scontrol', args, { env: slurmEnv(f), encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`scontrol ${args.join(' ')}: ${res.stderr || res.error?.message}`);
}

/** The jobs Slurm has under `name`, lowest id first. */
function jobsNamed(f: SlurmFacts, name: string): Array<{ id: string; state: string }> {
  const res = spawnSync('squeue', ['-h', '--states=all', `--name=${name}`, '-o', '%i|%T'], {
    env: slurmEnv(f),
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`squeue: ${res.stderr || res.error?.message}`);
  return res.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ id: l.split('|')[0]!, state: l.split('|')[1]! }))
    .sort((a, b) => Number(a.id) - Number(b.id));
}

function nodeDown(f: SlurmFacts): void {
  scontrol(f, 'update', `nodename=${f.node}`, 'state=down', 'reason=cairn-test-node-failure');
}

/** The cluster has ReturnToService=2, so the node may be back already ("Invalid node state"). */
function nodeResume(f: SlurmFacts): void {
  const res = spawnSync('scontrol', ['update', `nodename=${f.node}`, 'state=resume'], {
    env: slurmEnv(f),
    encoding: 'utf8',
  });
  if (res.status !== 0 && !/Invalid node state specified/.test(res.stderr))
    throw new Error(`scontrol resume: ${res.stderr || res.error?.message}`);
}

async function waitFor(
  b: SlurmBackend,
  h: JobHandle,
  ok: (s: JobState) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<JobState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await b.status([h])).get(h.id)!;
    if (ok(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`job ${h.id}: ${what} not reached in ${timeoutMs} ms; last ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitFile(path: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const available = async (): Promise<boolean> => slurmFacts() !== null;

// Slurm checks time limits about every 30 s and the shortest limit is a minute, so the suite's
// timeout test needs well over its default 90 s. Its cases, and this file's that neither fail the
// node nor depend on which jobs wait, run at the same time: the time-limit job's minute and a
// half of waiting overlaps the rest (jobs beyond the node's CPUs just queue). Those that do come
// after, one at a time.
computeBackendConformance(
  'slurm',
  () => ({
    backend: async () => backend(need()),
    dir: freshDir,
  }),
  available,
  240_000,
  { concurrent: true },
);

describe.concurrent('Slurm backend on a one-node cluster', () => {
  it(
    'gives a --gres=gpu:2 job two GPUs in CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS',
    { timeout: 120_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const b = backend(f);
      const req = job(freshDir(), 'echo "$CUDA_VISIBLE_DEVICES|$SLURM_JOB_GPUS|$SLURM_GPUS_ON_NODE"', {
        resources: { gpus: 2, cpus: 1, memoryMb: 0, timeLimitS: 0 },
      });
      const s = await waitDone(b, await b.submit(req), 100_000);
      expect([s.state, s.exitCode]).toEqual(['completed', 0]);
      const [cuda, jobGpus, onNode] = readFileSync(req.stdoutPath, 'utf8').trim().split('|');
      expect(cuda!.split(',')).toHaveLength(2);
      expect(jobGpus!.split(',')).toHaveLength(2);
      expect(onNode).toBe('2');
      expect(s.usage?.gpus).toBe(2);
    },
  );

  it("refuses more GPUs than the cluster has at submission, with sbatch's reason", { timeout: 60_000 }, async (ctx) => {
    if (!(await available())) return ctx.skip();
    const f = need();
    const b = backend(f);
    const err = await b
      .submit(job(freshDir(), 'true', { resources: { gpus: f.gpus + 1, cpus: 1, memoryMb: 0, timeLimitS: 0 } }))
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(
      /sbatch said: .*(Requested node configuration is not available|Invalid generic resource)/,
    );
  });

  it('refuses an unknown partition as invalid input', { timeout: 60_000 }, async (ctx) => {
    if (!(await available())) return ctx.skip();
    const f = need();
    const err = await backend(f)
      .submit(job(freshDir(), 'true', { slurm: { partition: 'no-such-partition' } }))
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/Invalid partition name/);
  });

  it(
    'holds no state of its own: a fresh instance (Cairn restarted) follows a job the old one submitted',
    { timeout: 120_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const req = job(freshDir(), 'sleep 2; echo survived');
      const h = await backend(f).submit(req);
      const fresh = backend(f);
      const first = (await fresh.status([h])).get(h.id)!;
      expect(['pending', 'running']).toContain(first.state);
      const s = await waitDone(fresh, { backend: 'slurm', id: h.id }, 100_000);
      expect([s.state, s.exitCode]).toEqual(['completed', 0]);
      expect(s.nodes).toBe(f.node);
      expect(s.usage?.elapsedS).toBeGreaterThanOrEqual(2);
      expect(readFileSync(req.stdoutPath, 'utf8')).toBe('survived\n');
    },
  );

  it(
    'answers unknown for a job id Slurm never had, and cancelling a finished job is a no-op',
    { timeout: 60_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const b = backend(f);
      const ghost = { backend: 'slurm' as const, id: '999999' };
      expect((await b.status([ghost])).get('999999')!.state).toBe('unknown');
      const done = await b.submit(job(freshDir(), 'true'));
      expect((await waitDone(b, done, 50_000)).state).toBe('completed');
      const both = await b.status([ghost, done]);
      expect([both.get('999999')!.state, both.get(done.id)!.state]).toEqual(['unknown', 'completed']);
      await b.cancel(done);
      await b.cancel(ghost);
      expect((await b.status([done])).get(done.id)!.state).toBe('completed');
    },
  );

  it(
    'a run submitted by several dispatchers at once gets one job, which runs once',
    { timeout: 120_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const dir = freshDir();
      const req = job(dir, `echo start >> ${dir}/starts.log`);
      // Each dispatcher its own backend instance, as separate server processes would be.
      const handles = await Promise.all([1, 2, 3, 4].map(() => backend(f).submit(req)));
      const kept = handles.find((h) => !h.adopted)!;
      expect(handles.map((h) => h.id)).toEqual(handles.map(() => kept.id));
      expect((await waitDone(backend(f), kept, 100_000)).state).toBe('completed');
      const jobs = jobsNamed(f, `cairn-${req.runId}`);
      expect(
        jobs.filter((j) => j.state !== 'CANCELLED').map((j) => j.id),
        JSON.stringify(jobs),
      ).toEqual([kept.id]);
      expect(readFileSync(join(dir, 'starts.log'), 'utf8')).toBe('start\n');
    },
  );

  it(
    'adopts and releases the held job a submitter left when it died before releasing it',
    { timeout: 120_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const dir = freshDir();
      const req = job(dir, 'true');
      const left = spawnSync(
        'sbatch',
        [
          '--parsable',
          '--hold',
          `--job-name=cairn-${req.runId}`,
          `--output=${dir}/left.log`,
          '--wrap',
          `echo start >> ${dir}/starts.log`,
        ],
        { env: slurmEnv(f), encoding: 'utf8' },
      );
      expect(left.status, left.stderr).toBe(0);
      const h = await backend(f).submit(req);
      expect(h).toEqual({ backend: 'slurm', id: left.stdout.trim(), adopted: true });
      expect((await waitDone(backend(f), h, 100_000)).state).toBe('completed');
      expect(
        jobsNamed(f, `cairn-${req.runId}`)
          .filter((j) => j.state !== 'CANCELLED')
          .map((j) => j.id),
      ).toEqual([h.id]);
      expect(readFileSync(join(dir, 'starts.log'), 'utf8')).toBe('start\n');
    },
  );

  it("reports the partition's node as capacity", { timeout: 30_000 }, async (ctx) => {
    if (!(await available())) return ctx.skip();
    const f = need();
    expect(await backend(f).capacity()).toEqual({ gpus: f.gpus, cpus: f.cpus, memoryMb: f.memoryMb });
  });

  it(
    'says the controller is unreachable (IO_ERROR) when SLURM_CONF points nowhere useful',
    { timeout: 60_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      // A copy of the config with the controller moved to a port nobody listens on.
      const dir = freshDir();
      const path = join(dir, 'slurm.conf');
      writeFileSync(path, readFileSync(f.conf, 'utf8').replace(/^ClusterName=.*$/m, '$&\nSlurmctldPort=1'));
      for (const extra of ['gres.conf', 'cgroup.conf']) copyFileSync(join(f.dir, extra), join(dir, extra));
      const b = new SlurmBackend({ env: { ...slurmEnv(f), SLURM_CONF: path } });
      const err = await b.submit(job(dir, 'true')).catch((e: unknown) => e);
      expect(isCairnError(err, 'IO_ERROR')).toBe(true);
      expect((err as Error).message).toMatch(/unreachable/);
    },
  );
});

// After the concurrent cases above (vitest runs a file's top-level blocks in order): a job that
// waits must wait for the reason under test alone (another pending job would make it
// "Priority"), and a node failure kills every job on the node.
describe('Slurm backend: a waiting job and node failures, one at a time', () => {
  beforeAll(async () => {
    const f = slurmFacts();
    if (!f) return;
    release();
    unlock = await lockSlurmCluster(f);
  }, 660_000);
  it('reports why a job waits: GPUs all taken → pending with reason Resources', { timeout: 120_000 }, async (ctx) => {
    if (!(await available())) return ctx.skip();
    const f = need();
    const b = backend(f);
    const dir = freshDir();
    const hog = await b.submit(
      job(dir, 'sleep 300', { resources: { gpus: f.gpus, cpus: 1, memoryMb: 0, timeLimitS: 0 } }),
    );
    let waiter: JobHandle | undefined;
    try {
      await waitRunning(b, hog, 60_000);
      waiter = await b.submit(job(dir, 'true', { resources: { gpus: 1, cpus: 1, memoryMb: 0, timeLimitS: 0 } }));
      // The reason is filled in at the scheduler's next pass.
      const s = await waitFor(b, waiter, (x) => x.state !== 'pending' || x.reason !== null, 'a pending reason', 60_000);
      expect([s.state, s.reason]).toEqual(['pending', 'Resources']);
      expect(s.startedAt).toBeNull();
      await b.cancel(waiter);
      expect((await waitDone(b, waiter, 30_000)).state).toBe('cancelled');
    } finally {
      await b.cancel(hog);
      if (waiter) await b.cancel(waiter);
    }
    expect((await waitDone(b, hog, 60_000)).state).toBe('cancelled');
  });

  it(
    'requeues a --requeue job after its node fails; it runs again and completes',
    { timeout: 240_000 },
    async (ctx) => {
      if (!(await available())) return ctx.skip();
      const f = need();
      const b = backend(f);
      // The first run waits to be killed; the second finishes. Slurm signals the job's processes
      // one by one, so the shell may outlive its sleep for a moment: `|| exit` keeps a killed
      // first run from going on to print what only a finished run prints.
      const req = job(
        freshDir(),
        'if [ ! -e runs.txt ]; then echo first; echo run >> runs.txt; sleep 300 || exit 1; else echo run >> runs.txt; fi; echo finished',
        { requeue: true },
      );
      const h = await b.submit(req);
      try {
        await waitRunning(b, h, 60_000);
        await waitFile(join(req.cwd, 'runs.txt'));
        nodeDown(f);
        const requeued = await waitFor(
          b,
          h,
          (s) => s.restarts >= 1 && s.state === 'pending',
          'requeued (pending, restarts ≥ 1)',
          60_000,
        );
        expect(requeued.state).toBe('pending');
      } finally {
        nodeResume(f);
      }
      // A requeued job may start again only after the cluster's cred_expire (20 s here).
      const s = await waitDone(b, h, 180_000);
      expect([s.state, s.exitCode]).toEqual(['completed', 0]);
      expect(s.restarts).toBeGreaterThanOrEqual(1);
      expect(readFileSync(join(req.cwd, 'runs.txt'), 'utf8')).toBe('run\nrun\n');
      // --open-mode=append: the second run's output follows the first's.
      expect(readFileSync(req.stdoutPath, 'utf8')).toBe('first\nfinished\n');
    },
  );

  it('without --requeue a node failure ends the job as node_fail', { timeout: 120_000 }, async (ctx) => {
    if (!(await available())) return ctx.skip();
    const f = need();
    const b = backend(f);
    const req = job(freshDir(), 'echo started > started.txt; sleep 300', { requeue: false });
    const h = await b.submit(req);
    try {
      await waitRunning(b, h, 60_000);
      await waitFile(join(req.cwd, 'started.txt'));
      nodeDown(f);
      const s = await waitDone(b, h, 60_000);
      expect(s.state).toBe('node_fail');
      expect(s.restarts).toBe(0);
    } finally {
      nodeResume(f);
    }
  });
});
