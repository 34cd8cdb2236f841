import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { prepareRun } from './prepare.js';
import { submitRun } from './submit.js';
import { getRun, JOB_CLAIM } from './store.js';
import { syncRuns, waitRun } from './sync.js';

/**
 * A team server syncs runs on every `run ls` and `run wait`, many at once: two dispatchers that
 * read the same queued run both handed it to the backend, so the job ran twice in one folder
 * (the second truncating the first's outputs while they were versioned) and took its GPUs twice.
 * Each job here counts its own starts.
 */
describe('dispatch: a queued run is started once, however many dispatch at once', () => {
  const tmp = useTempDirs();
  let ws: (Workspace & ReturnType<typeof runDeps>) | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('concurrent submits and syncs start each job exactly once', { timeout: 240_000 }, async () => {
    const root = tmp();
    ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    writeTree(join(root, 'data'), { 'd.csv': 'x\n1\n' });
    await addVersion(ws, { source: join(root, 'data'), name: 'toy' });
    const specs = Array.from({ length: 6 }, (_, i) => {
      const p = join(root, `cairn-${i}.yaml`);
      writeFileSync(
        p,
        `name: job-${i}\ncommand: echo start >> "$CAIRN_OUTPUT_DIR/../starts.log"; echo ${i} > "$CAIRN_OUTPUT_DIR/m.txt"\ninputs:\n  train: toy@v1\n`,
      );
      return p;
    });
    const prepared = await Promise.all(specs.map((p) => prepareRun(ws!, p)));
    const w = ws;
    const [runs] = await Promise.all([
      Promise.all(prepared.map((p) => submitRun(w, p))),
      ...Array.from({ length: 12 }, () => syncRuns(w)),
    ]);
    for (const { run } of runs) {
      const done = await waitRun(w, run.id, { pollMs: 50 });
      expect(done.status).toBe('completed');
      expect(readFileSync(join(done.dir, 'starts.log'), 'utf8'), `${run.name}: started more than once`).toBe('start\n');
    }
  });
});

/**
 * A dispatcher killed after handing the job to its backend, before it recorded the job's id,
 * leaves its claim on the queued row; 30 minutes later the next dispatcher takes the claim over.
 * It started the job a second time, in the same folder (local job ids are run ids: the second
 * supervisor took over the first's files).
 */
describe('dispatch: a claim left by a dispatcher killed after the job started', () => {
  const tmp = useTempDirs();
  let ws: (Workspace & ReturnType<typeof runDeps>) | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('is taken over without starting the job again', { timeout: 120_000 }, async () => {
    const root = tmp();
    ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    const w = ws;
    writeTree(join(root, 'data'), { 'd.csv': 'x\n1\n' });
    await addVersion(w, { source: join(root, 'data'), name: 'toy' });
    const spec = join(root, 'cairn.yaml');
    writeFileSync(
      spec,
      `name: once\ncommand: echo start >> "$CAIRN_OUTPUT_DIR/../starts.log"; sleep 1\ninputs:\n  train: toy@v1\n`,
    );
    const { run } = await submitRun(w, await prepareRun(w, spec));
    const row = await getRun(w, run.id);
    expect(row.status).toBe('pending');
    // What the killed dispatcher left: its job handed over, the row still queued under its claim.
    const old = `${JOB_CLAIM}${Date.now() - 31 * 60_000}:${randomUUID()}`;
    await w.bookkeeping
      .updateTable('runs')
      .set({ status: 'queued', backend_id: old })
      .where('id', '=', run.id)
      .execute();
    await syncRuns(w);
    const done = await waitRun(w, run.id, { pollMs: 50 });
    expect(done.status).toBe('completed');
    expect(readFileSync(join(done.dir, 'starts.log'), 'utf8'), 'the job started again').toBe('start\n');
  });
});
