import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { mulberry32 } from '../../test-support/prng.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { setProject } from '../projects.js';
import { prepareRun } from './prepare.js';
import { submitRun } from './submit.js';
import { cancelRun, syncRuns, waitRun } from './sync.js';

/**
 * `run cancel` of a queued run and a dispatcher (any `run ls`, or a server request) at the same
 * time: the cancel read the run queued and recorded it cancelled, unconditionally, while the
 * dispatcher had meanwhile started its job and marked it pending. The run read `cancelled` and
 * no command looked at it again, while its job ran to the end on the GPUs it held.
 */
describe('cancel racing dispatch', () => {
  const tmp = useTempDirs();
  let ws: (Workspace & ReturnType<typeof runDeps>) | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('every cancelled run has its job stopped, in random interleavings (seeded)', { timeout: 240_000 }, async () => {
    const root = tmp();
    ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    const w = ws;
    writeFileSync(join(w.cairnDir, 'compute.json'), JSON.stringify({ localGpus: [0, 1, 2, 3, 4, 5, 6, 7] }));
    writeTree(join(root, 'data'), { 'd.csv': 'x\n1\n' });
    await addVersion(w, { source: join(root, 'data'), name: 'toy' });
    const rnd = mulberry32(0xca_9ce1);
    const later = <T>(f: () => Promise<T>) =>
      new Promise<T>((resolve, reject) => setTimeout(() => f().then(resolve, reject), Math.floor(rnd() * 40)));
    const ids: string[] = [];
    for (let round = 0; round < 4; round++) {
      await setProject(w, 'vision', { gpuQuota: 0 });
      const batch: string[] = [];
      for (let i = 0; i < 4; i++) {
        const p = join(root, `r${round}-${i}.yaml`);
        writeFileSync(
          p,
          `name: r${round}-${i}\nproject: vision\ncommand: sleep 2; echo survived > "$CAIRN_OUTPUT_DIR/../survived"\ninputs:\n  train: toy@v1\nresources:\n  gpus: 1\n`,
        );
        const r = await submitRun(w, await prepareRun(w, p));
        expect(r.outcome).toBe('queued');
        batch.push(r.run.id);
      }
      await setProject(w, 'vision', { gpuQuota: 8 });
      await Promise.all([
        ...Array.from({ length: 3 }, () => later(() => syncRuns(w))),
        ...batch.map((id) => later(() => cancelRun(w, id))),
      ]);
      ids.push(...batch);
    }
    for (const id of ids) expect((await waitRun(w, id, { pollMs: 50 })).status).toBe('cancelled');
    // A job left running would write its file 2 s after it started.
    await new Promise((r) => setTimeout(r, 3000));
    const survived = ids.filter((id) => existsSync(join(w.cairnDir, 'runs', id, 'survived')));
    expect(survived, 'runs recorded cancelled whose job ran on').toEqual([]);
  });
});

/**
 * A `run cancel` killed after it claimed the queued run's end (its `ended_at`) and before it
 * recorded it: no dispatcher may start the run (it is being cancelled), and nothing else ended it,
 * so it stayed queued for good.
 */
describe('an interrupted cancel', () => {
  const tmp = useTempDirs();
  let ws: (Workspace & ReturnType<typeof runDeps>) | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('is finished by a later dispatch once its claim is stale; the job never starts', { timeout: 60_000 }, async () => {
    const root = tmp();
    ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    const w = ws;
    writeFileSync(join(w.cairnDir, 'compute.json'), JSON.stringify({ localGpus: [0] }));
    writeTree(join(root, 'data'), { 'd.csv': 'x\n1\n' });
    await addVersion(w, { source: join(root, 'data'), name: 'toy' });
    await setProject(w, 'vision', { gpuQuota: 0 });
    const p = join(root, 'r.yaml');
    writeFileSync(
      p,
      `name: r\nproject: vision\ncommand: echo ran > "$CAIRN_OUTPUT_DIR/../ran"\ninputs:\n  train: toy@v1\nresources:\n  gpus: 1\n`,
    );
    const { run } = await submitRun(w, await prepareRun(w, p));
    const claimed = new Date(Date.now() - 31 * 60_000).toISOString();
    await w.bookkeeping.updateTable('runs').set({ ended_at: claimed }).where('id', '=', run.id).execute();
    await setProject(w, 'vision', { gpuQuota: 1 });
    await syncRuns(w);
    const now = await waitRun(w, run.id, { pollMs: 50, timeoutMs: 20_000 });
    expect(now.status).toBe('cancelled');
    expect(existsSync(join(now.dir, 'ran'))).toBe(false);
  });
});
