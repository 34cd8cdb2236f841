import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../../core/errors.js';
import { SlurmBackend } from './slurm-backend.js';

// Stand-in Slurm clients (binDir) for what the one-node test cluster cannot show: a cluster
// with accounting (sacct), jobs slurmctld has forgotten, and how often slurmctld is asked.
const root = mkdtempSync(join(tmpdir(), 'cairn-fake-slurm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fakeBin(scripts: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'bin-'));
  for (const [name, body] of Object.entries(scripts)) {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho "$*" >> ${dir}/${name}.calls\n${body}\n`);
    chmodSync(path, 0o755);
  }
  return dir;
}

function calls(dir: string, name: string): string[] {
  const path = join(dir, `${name}.calls`);
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n') : [];
}

const SQUEUE = `cat <<'EOF'
10|RUNNING|None|0|0|2026-11-27T03:00:00|2026-11-27T04:00:00|n1|1:00|cpu=2|gres:gpu:1|N/A|
11|COMPLETED|None|0|1|2026-11-27T03:00:00|2026-11-27T03:10:00|n1|10:00|cpu=2|N/A|N/A|
EOF`;

const SACCT = `cat <<'EOF'
11|COMPLETED|0:0|None|2026-11-27T03:00:00|2026-11-27T03:10:00|n1|600|05:00.000||cpu=2,mem=1G
11.batch|COMPLETED|0:0||2026-11-27T03:00:00|2026-11-27T03:10:00|n1|600|05:00.000|4096K|
12|FAILED|2:0|None|2026-11-26T03:00:00|2026-11-26T03:10:00|n2|600|01:00.000||cpu=1
EOF`;

describe('Slurm backend against stand-in clients', () => {
  it('asks squeue for all jobs at once and sacct for finished and forgotten ones', async () => {
    const bin = fakeBin({ squeue: SQUEUE, sacct: SACCT });
    const b = new SlurmBackend({ binDir: bin });
    const ids = ['10', '11', '12', '13'];
    const out = await b.status(ids.map((id) => ({ backend: 'slurm' as const, id })));
    expect(calls(bin, 'squeue')).toEqual([expect.stringContaining('--states=all --jobs=10,11,12,13')]);
    expect(calls(bin, 'sacct')).toEqual([expect.stringContaining('--jobs=11,12,13')]);
    expect(out.get('10')).toMatchObject({ state: 'running', nodes: 'n1', usage: { gpus: 1, elapsedS: 60 } });
    // squeue's restarts and sacct's usage together.
    expect(out.get('11')).toMatchObject({
      state: 'completed',
      exitCode: 0,
      restarts: 1,
      usage: { cpuSeconds: 300, maxRssKb: 4096, elapsedS: 600 },
    });
    expect(out.get('12')).toMatchObject({ state: 'failed', exitCode: 2, nodes: 'n2' });
    expect(out.get('13')!.state).toBe('unknown');
  });

  it('stops asking sacct once it says the cluster has no accounting', async () => {
    const bin = fakeBin({ squeue: SQUEUE, sacct: 'echo "Slurm accounting storage is disabled" >&2; exit 1' });
    const b = new SlurmBackend({ binDir: bin });
    for (let i = 0; i < 3; i++) {
      const out = await b.status([
        { backend: 'slurm', id: '11' },
        { backend: 'slurm', id: '12' },
      ]);
      expect([out.get('11')!.state, out.get('12')!.state]).toEqual(['completed', 'unknown']);
    }
    expect(calls(bin, 'squeue')).toHaveLength(3);
    expect(calls(bin, 'sacct')).toHaveLength(1);
  });

  it('answers from its last reading within pollIntervalMs', async () => {
    const bin = fakeBin({ squeue: SQUEUE, sacct: 'exit 1' });
    const b = new SlurmBackend({ binDir: bin, pollIntervalMs: 60_000 });
    const h = { backend: 'slurm' as const, id: '10' };
    await b.status([h]);
    expect((await b.status([h])).get('10')!.state).toBe('running');
    expect(calls(bin, 'squeue')).toHaveLength(1);
    // A job it has not read yet is asked for.
    await b.status([h, { backend: 'slurm', id: '11' }]);
    expect(calls(bin, 'squeue')).toEqual([expect.stringContaining('--jobs=10'), expect.stringContaining('--jobs=11 ')]);
  });

  it("maps sbatch's refusals and a missing client to stable error codes", async () => {
    const job = {
      runId: 'r1',
      command: 'true',
      cwd: root,
      env: {},
      stdoutPath: join(root, 'r1', 'out.log'),
      stderrPath: join(root, 'r1', 'err.log'),
      resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 0 },
      gracePeriodS: 5,
      requeue: false,
    };
    const refused = new SlurmBackend({
      binDir: fakeBin({
        sbatch: 'echo "sbatch: error: Batch job submission failed: Invalid qos specification" >&2; exit 1',
      }),
    });
    const e1 = await refused.submit(job).catch((e: unknown) => e);
    expect(isCairnError(e1, 'INVALID_INPUT')).toBe(true);
    expect((e1 as Error).message).toContain('Invalid qos specification');
    const down = new SlurmBackend({
      binDir: fakeBin({
        sbatch:
          'echo "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)" >&2; exit 1',
      }),
    });
    expect(isCairnError(await down.submit(job).catch((e: unknown) => e), 'IO_ERROR')).toBe(true);
    const missing = new SlurmBackend({ binDir: join(root, 'no-such-bin') });
    const e3 = await missing.capacity().catch((e: unknown) => e);
    expect(isCairnError(e3, 'IO_ERROR')).toBe(true);
    expect((e3 as Error).message).toMatch(/sinfo was not found/);
  });

  it("adopts a run's job that only accounting remembers (slurmctld forgot it), withdrawing its own held one", async () => {
    const runId = '01930000-0000-7000-8000-000000000001';
    const bin = fakeBin({
      sbatch: 'case "$*" in *--test-only*) exit 0;; esac; echo 50',
      squeue: 'echo "50|PENDING|JobHeldUser"',
      sacct: 'echo "42|COMPLETED"',
      scancel: 'exit 0',
      scontrol: 'exit 0',
    });
    const h = await new SlurmBackend({ binDir: bin }).submit({
      runId,
      command: 'true',
      cwd: root,
      env: {},
      stdoutPath: join(root, runId, 'out.log'),
      stderrPath: join(root, runId, 'err.log'),
      resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 0 },
      gracePeriodS: 5,
      requeue: false,
    });
    expect(h).toEqual({ backend: 'slurm', id: '42', adopted: true });
    expect(calls(bin, 'scancel')).toEqual(['50']);
    // The finished job is not held: nothing is released (and the withdrawn one never ran).
    expect(calls(bin, 'scontrol')).toEqual([]);
    // Only this user's jobs, of this run's name, since the run was made (its UUIDv7's time, less a day).
    const asked = calls(bin, 'sacct')[0]!;
    expect(asked).toContain(`--name=cairn-${runId}`);
    expect(asked).toMatch(/--user=\d+/);
    expect(asked).toMatch(/--starttime=2024-1[01]-\d\dT/);
  });
});
