import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace } from '../../test-support/workspace.js';
import { prepareRun } from './prepare.js';
import { getRun } from './store.js';
import { submitRun } from './submit.js';
import { syncRuns, waitRun } from './sync.js';

/** A Python job that checkpoints on SIGTERM (slowly) and otherwise runs until `release` exists. */
const TRAIN_PY = `
import os, signal, sys, time
ckpt = os.environ['CAIRN_CHECKPOINT_DIR']
def on_term(signum, frame):
    time.sleep(1.0)
    with open(os.path.join(ckpt, 'ckpt.txt'), 'w') as f:
        f.write('saved\\n')
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
open(os.path.join(ckpt, 'started'), 'w').write('up')
while not os.path.exists('release'):
    time.sleep(0.05)
`;

async function actions(ws: Workspace): Promise<string[]> {
  const rows = await ws.meta.db.selectFrom('audit_events').select(['action', 'outcome']).orderBy('idx').execute();
  return rows.map((r) => `${r.action}:${r.outcome}`);
}

/**
 * The idle-GPU policy and GPU capacity, through the run service and the real supervisor. No
 * GPU exists here: a stand-in nvidia-smi (first on PATH) reports GPU 0 in its CSV, idle once the job runs.
 */
describe('runs: idle-GPU policy and GPU capacity', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  const savedPath = process.env.PATH;
  afterEach(async () => {
    process.env.PATH = savedPath;
    for (const ws of open.splice(0)) await ws.close();
  });

  const setup = async (compute: object) => {
    const root = tmp();
    const ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    open.push(ws);
    writeFileSync(join(ws.cairnDir, 'compute.json'), JSON.stringify(compute));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    // Busy until the job has installed its SIGTERM handler (`started` in its checkpoint folder):
    // on a loaded machine Python can take longer to start than the idle window.
    const util = `if ls ${ws.cairnDir}/checkpoints/*/started >/dev/null 2>&1; then echo "0, 0, 700"; else echo "0, 100, 700"; fi`;
    writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\n${util}\n`);
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    writeFileSync(join(root, 'train.py'), TRAIN_PY);
    const spec = (action: string) => {
      const p = join(root, 'cairn.yaml');
      writeFileSync(
        p,
        `name: idle-${action}\ncommand: python3 train.py; echo done\nresources: { gpus: 1, time: 10m }\ncheckpoint: { grace: 20s }\nidle: { threshold: 5, window: 1s, action: ${action} }\n`,
      );
      return p;
    };
    return { root, ws, spec };
  };

  it(
    'a stop by the idle policy keeps the checkpoint and is recorded as IDLE_STOP with the policy and its samples',
    { timeout: 60_000 },
    async () => {
      const { ws, spec } = await setup({ localGpus: [0], sampleIntervalS: 0.1 });
      const { run } = await submitRun(ws, await prepareRun(ws, spec('stop')));
      const done = await waitRun(ws, run.id, { pollMs: 100 });
      expect(done.status).toBe('cancelled');
      const reason = JSON.parse(done.reason!) as {
        code: string;
        message: string;
        policy: unknown;
        samples: Array<{ util: number[] }>;
      };
      expect(reason).toMatchObject({
        code: 'IDLE_STOP',
        message: 'the idle-GPU policy stopped the run: GPUs 0 under 5% for 1 s',
        policy: { thresholdPct: 5, windowS: 1, action: 'stop' },
      });
      expect(reason.samples.length).toBeGreaterThan(0);
      expect(reason.samples.every((x) => x.util[0] === 0)).toBe(true);
      expect(readFileSync(join(ws.cairnDir, 'checkpoints', done.run_key, 'ckpt.txt'), 'utf8')).toBe('saved\n');
      expect((await actions(ws)).filter((a) => /^run\.(policy|cancel|fail)/.test(a))).toEqual([
        'run.policy:ok',
        'run.cancel:ok',
      ]);
    },
  );

  it(
    'a `flag` shows while the run still goes, once, and stays in its usage after it ends',
    { timeout: 60_000 },
    async () => {
      const { root, ws, spec } = await setup({ localGpus: [0], sampleIntervalS: 0.1 });
      const { run } = await submitRun(ws, await prepareRun(ws, spec('flag')));
      let seen = await getRun(ws, run.id);
      for (let i = 0; i < 300 && !(seen.status === 'running' && seen.reason); i++) {
        await new Promise((r) => setTimeout(r, 100));
        await syncRuns(ws);
        seen = await getRun(ws, run.id);
      }
      expect(seen.status).toBe('running');
      expect(JSON.parse(seen.reason!)).toMatchObject({
        code: 'IDLE_FLAG',
        message: 'the idle-GPU policy flagged the run: GPUs 0 under 5% for 1 s',
        policy: { action: 'flag' },
      });
      writeFileSync(join(root, 'release'), '');
      const done = await waitRun(ws, run.id, { pollMs: 100 });
      expect(done.status).toBe('completed');
      const flags = (JSON.parse(done.usage) as { policy: Array<{ action: string }> }).policy;
      expect(flags.length).toBeGreaterThan(0);
      expect(flags.every((f) => f.action === 'flag')).toBe(true);
      // one event per action, never repeated when the run ends
      expect((await actions(ws)).filter((a) => a.startsWith('run.policy')).length).toBe(flags.length);
    },
  );

  it('a run asking for more GPUs than the machine has is refused, not failed', { timeout: 60_000 }, async () => {
    const { ws, spec } = await setup({ localGpus: [] });
    const p = await prepareRun(ws, spec('flag'));
    const err = await submitRun(ws, p).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_INPUT', message: 'the job asks for 1 GPU(s); this machine has 0' });
    const id = (err as { data: { run: string } }).data.run;
    const r = await getRun(ws, id);
    expect([r.status, JSON.parse(r.reason!).code]).toEqual(['refused', 'CAPACITY']);
    expect((await actions(ws)).filter((a) => a.startsWith('run.'))).toEqual(['run.submit:ok', 'run.submit:denied']);
    expect(existsSync(join(r.dir, 'stdout.log'))).toBe(false);
  });
});
