import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitDone } from '../conformance.case.js';
import { LocalBackend } from './local-backend.js';

/**
 * No GPU exists here, so a stand-in `nvidia-smi` (first on PATH) reports the utilization the
 * test wants, in nvidia-smi's own CSV format; everything else is the real supervisor.
 */
describe('idle-GPU policy (local backend)', () => {
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });
  const setup = (util: number) => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-idle-'));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\necho "0, ${util}, 1234"\necho "1, ${util}, 10"\n`);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    const dir = join(root, 'job');
    mkdirSync(dir);
    const b = new LocalBackend({ stateDir: join(root, 'state'), gpus: [0, 1], sampleIntervalMs: 100 });
    const request = (action: 'flag' | 'stop') => ({
      runId: `idle-${action}-${util}`,
      command: 'sleep 2',
      cwd: dir,
      env: {},
      stdoutPath: join(dir, 'out.log'),
      stderrPath: join(dir, 'err.log'),
      resources: { gpus: 1, cpus: 1, memoryMb: 0, timeLimitS: 60 },
      gracePeriodS: 1,
      requeue: false,
      idle: { thresholdPct: 5, windowS: 1, action },
    });
    return { b, request };
  };

  it('GPUs under the threshold for the window: `stop` ends the job, and the samples and the action are recorded', async () => {
    const { b, request } = setup(0);
    const h = await b.submit(request('stop'));
    const s = await waitDone(b, h, 20_000);
    expect(s.state).toBe('cancelled');
    const rec = b.exitRecord(h.id)!;
    expect(rec.usage.policy.map((p) => [p.action, p.detail])).toEqual([['stop', 'GPUs 0 under 5% for 1 s']]);
    expect(rec.usage.gpu.available).toBe(true);
    if (rec.usage.gpu.available) expect(rec.usage.gpu.samples[0]).toMatchObject({ util: [0], memMb: [1234] });
  });

  it('busy GPUs: no action; `flag` on idle GPUs only records', async () => {
    const busy = setup(80);
    const s = await waitDone(busy.b, await busy.b.submit(busy.request('stop')), 20_000);
    expect(s.state).toBe('completed');
    expect(busy.b.exitRecord('idle-stop-80')!.usage.policy).toEqual([]);
    const idle = setup(1);
    const f = await waitDone(idle.b, await idle.b.submit(idle.request('flag')), 20_000);
    expect(f.state).toBe('completed');
    expect(idle.b.exitRecord('idle-flag-1')!.usage.policy.map((p) => p.action)[0]).toBe('flag');
  });

  it('without nvidia-smi, utilization is recorded as unavailable, never invented', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-idle-'));
    process.env.PATH = '/usr/bin:/bin';
    const b = new LocalBackend({ stateDir: join(root, 'state'), gpus: [0], sampleIntervalMs: 100 });
    const h = await b.submit({
      runId: 'no-smi',
      command: 'sleep 0.3',
      cwd: root,
      env: {},
      stdoutPath: join(root, 'o'),
      stderrPath: join(root, 'e'),
      resources: { gpus: 1, cpus: 1, memoryMb: 0, timeLimitS: 0 },
      gracePeriodS: 1,
      requeue: false,
    });
    await waitDone(b, h, 20_000);
    expect(b.exitRecord('no-smi')!.usage.gpu).toEqual({
      available: false,
      reason: 'nvidia-smi is not available on this machine',
    });
  });
});
