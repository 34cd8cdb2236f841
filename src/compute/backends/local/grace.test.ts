import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobRequest, waitDone } from '../conformance.case.js';
import { LocalBackend } from './local-backend.js';

/**
 * A real Python job whose SIGTERM handler takes a while to write its checkpoint, run by the
 * real supervisor. The command is not a single program, so /bin/sh stays between the
 * supervisor and Python and dies of the SIGTERM at once: the grace period has to hold for the
 * job's own processes, not for the shell.
 */
const JOB_PY = `
import signal, sys, time
def on_term(signum, frame):
    time.sleep(1.0)  # a checkpoint takes a while to write
    with open('checkpoint.txt', 'w') as f:
        f.write('saved\\n')
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
open('started.txt', 'w').write('up\\n')
while True:
    time.sleep(0.05)
`;

async function waitFor(path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('local backend: stopping a job keeps its checkpoint', () => {
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });
  const setup = (opts: { gpus?: number[]; util?: number; sampleIntervalMs?: number } = {}) => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-grace-'));
    if (opts.util !== undefined) {
      // No GPU here: a stand-in nvidia-smi reports the utilization, in nvidia-smi's CSV. It
      // reports a busy GPU until the job has installed its SIGTERM handler (started.txt): on a
      // loaded machine Python can take longer to start than the idle window.
      const bin = join(root, 'bin');
      mkdirSync(bin);
      const busy = `if ls ${root}/jobs/*/started.txt >/dev/null 2>&1; then echo "0, ${opts.util}, 512"; else echo "0, 100, 512"; fi`;
      writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\n${busy}\n`);
      chmodSync(join(bin, 'nvidia-smi'), 0o755);
      process.env.PATH = `${bin}:${savedPath}`;
    }
    const b = new LocalBackend({
      stateDir: join(root, 'state'),
      gpus: opts.gpus ?? [],
      sampleIntervalMs: opts.sampleIntervalMs ?? 100,
    });
    const job = (over: Parameters<typeof jobRequest>[2] = {}) => {
      const req = jobRequest(join(root, 'jobs'), 'python3 job.py; echo "python ended with $?"', {
        gracePeriodS: 20,
        ...over,
      });
      writeFileSync(join(req.cwd, 'job.py'), JOB_PY);
      return req;
    };
    return { b, job };
  };

  it(
    'cancel: the Python job gets its grace period after the shell has died, and writes its checkpoint',
    { timeout: 60_000 },
    async () => {
      const { b, job } = setup();
      const req = job();
      const h = await b.submit(req);
      await waitFor(join(req.cwd, 'started.txt'));
      await b.cancel(h);
      const s = await waitDone(b, h, 45_000);
      expect(s.state).toBe('cancelled');
      expect(readFileSync(join(req.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
      expect(b.exitRecord(h.id)!.stoppedBy).toBe('cancel');
    },
  );

  it('time limit: timeout, and the checkpoint is written', { timeout: 60_000 }, async () => {
    // 5 s: long enough for Python to start and install its handler on a loaded machine.
    const { b, job } = setup();
    const req = job({ resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 5 } });
    const h = await b.submit(req);
    const s = await waitDone(b, h, 45_000);
    expect(s.state).toBe('timeout');
    expect(readFileSync(join(req.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
    expect(b.exitRecord(h.id)!.stoppedBy).toBe('timeout');
  });

  it(
    "idle-policy stop: the checkpoint is written and the stop is recorded as the policy's, with its samples",
    { timeout: 60_000 },
    async () => {
      const { b, job } = setup({ gpus: [0], util: 0 });
      const req = job({
        resources: { gpus: 1, cpus: 1, memoryMb: 0, timeLimitS: 0 },
        idle: { thresholdPct: 5, windowS: 1, action: 'stop' },
      });
      const h = await b.submit(req);
      const s = await waitDone(b, h, 45_000);
      expect(s.state).toBe('cancelled');
      expect(readFileSync(join(req.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
      const rec = b.exitRecord(h.id)!;
      expect(rec.stoppedBy).toBe('idle');
      const stop = rec.usage.policy.find((p) => p.action === 'stop')!;
      expect(stop.policy).toEqual({ thresholdPct: 5, windowS: 1, action: 'stop' });
      expect(stop.samples.length).toBeGreaterThan(0);
      expect(stop.samples.every((x) => x.util[0] === 0)).toBe(true);
      expect(s.stoppedBy).toBe('idle');
    },
  );

  it(
    'processes the shell leaves behind get SIGTERM and the grace period too, not an immediate SIGKILL',
    { timeout: 60_000 },
    async () => {
      const { b, job } = setup();
      const req = job();
      req.command = 'python3 job.py & while [ ! -f started.txt ]; do sleep 0.05; done; echo shell done';
      const h = await b.submit(req);
      const s = await waitDone(b, h, 45_000);
      expect([s.state, s.exitCode]).toEqual(['completed', 0]);
      expect(readFileSync(join(req.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
    },
  );

  it("a short job's peak memory is measured, not 0", { timeout: 60_000 }, async () => {
    // Sampled once a second (the default), a job this short ends between two samples. It holds
    // its peak for half a second: the dense early sampling runs on timers, which a loaded machine
    // (the full suite on 2 cores) delays by more than 0.1 s.
    const { b } = setup({ sampleIntervalMs: 1000 });
    const req = jobRequest(join(tmpdir()), `python3 -c "b = b'x' * (64 << 20); import time; time.sleep(0.5)"`);
    const h = await b.submit(req);
    const s = await waitDone(b, h, 45_000);
    expect(s.state).toBe('completed');
    expect(s.usage!.maxRssKb!).toBeGreaterThanOrEqual(64 * 1024);
  });
});
