import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { setProject } from '../projects.js';
import { usageReport } from '../usage.js';
import { createComputeUsageService } from '../usage-service.js';
import { periodStart } from './quota.js';
import { prepareRun } from './prepare.js';
import { listRuns, planRun, runDetails } from './queries.js';
import { getRun } from './store.js';
import { submitRun } from './submit.js';
import { cancelRun, syncRuns, waitRun } from './sync.js';

async function actions(ws: Workspace): Promise<string[]> {
  const rows = await ws.meta.db.selectFrom('audit_events').select(['action', 'outcome']).orderBy('idx').execute();
  return rows.map((r) => `${r.action}:${r.outcome}`);
}

describe('runs on the local backend', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  /** A workspace with a dataset `toy` and a spec folder; `spec` writes cairn.yaml. */
  const setup = async (config?: object) => {
    const root = tmp();
    const ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    open.push(ws);
    if (config) writeFileSync(join(ws.cairnDir, 'compute.json'), JSON.stringify(config));
    writeTree(join(root, 'data'), { 'd.csv': 'x,y\n1,2\n3,4\n' });
    await addVersion(ws, { source: join(root, 'data'), name: 'toy' });
    writeTree(root, {
      'train.sh': [
        'set -e',
        'cat "$CAIRN_INPUT_TRAIN/d.csv" > /dev/null',
        'for s in 0 1 2; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"loss\\",\\"value\\":$((10 - s)),\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done',
        'echo "{\\"kind\\":\\"param\\",\\"name\\":\\"seen_lr\\",\\"value\\":\\"$1\\"}" >> "$CAIRN_METRICS_FILE"',
        'echo "model for lr=$1" > "$CAIRN_OUTPUT_DIR/model.txt"',
        'echo trained',
      ].join('\n'),
    });
    const spec = (yaml: string) => {
      const p = join(root, 'cairn.yaml');
      writeFileSync(p, yaml);
      return p;
    };
    return { root, ws, spec };
  };
  const SPEC = `name: toy-train
command: sh train.sh {params.lr}
inputs:
  train: toy@v1
params:
  lr: 0.1
resources:
  time: 5m
`;

  it('runs a spec: inputs mounted, metrics and params logged, outputs versioned with lineage, every step audited', async () => {
    const { ws, spec } = await setup();
    const p = await prepareRun(ws, spec(SPEC));
    const { run, outcome } = await submitRun(ws, p);
    expect(outcome).toBe('submitted');
    const done = await waitRun(ws, run.id, { pollMs: 50 });
    expect([done.status, done.exit_code]).toEqual(['completed', 0]);
    const d = await runDetails(ws, done);
    expect(d.params).toEqual({ lr: 0.1, seen_lr: '0.1' });
    expect(d.metrics).toEqual([{ name: 'loss', points: 3, last: 8, lastStep: 2, min: 8, max: 10 }]);
    expect(d.output).toBe('runs/toy-train@v1');
    expect(readFileSync(join(done.dir, 'stdout.log'), 'utf8')).toBe('trained\n');
    const edges = await ws.meta.db
      .selectFrom('lineage_edges')
      .select(['src_type', 'dst_type', 'relation'])
      .where((eb) => eb.or([eb('src_id', '=', run.id), eb('dst_id', '=', run.id)]))
      .orderBy('relation')
      .execute();
    expect(edges).toEqual([
      { src_type: 'dataset_version', dst_type: 'run', relation: 'input:train' },
      { src_type: 'run', dst_type: 'dataset_version', relation: 'output' },
    ]);
    expect((await actions(ws)).slice(2)).toEqual([
      'run.submit:ok',
      'run.start:ok',
      'dataset.version.create:ok',
      'run.finish:ok',
    ]);
    const usage = JSON.parse(done.usage) as { gpu: unknown; cpuSeconds: number };
    expect(usage.gpu).toEqual({ available: false, reason: 'no GPU was assigned' });
  });

  it('an identical run is a cache hit (not executed) unless forced; plan says why a changed one misses', async () => {
    const { ws, spec } = await setup();
    const path = spec(SPEC);
    const first = await waitRun(ws, (await submitRun(ws, await prepareRun(ws, path))).run.id, { pollMs: 50 });
    expect((await planRun(ws, await prepareRun(ws, path))).cacheHit).toEqual({
      run: first.id,
      finishedAt: first.ended_at,
      output: first.output_version_id,
    });
    const again = await submitRun(ws, await prepareRun(ws, path));
    expect([again.outcome, again.run.status, again.run.reused_from, again.run.output_version_id]).toEqual([
      'reused',
      'reused',
      first.id,
      first.output_version_id,
    ]);
    const plan = await planRun(ws, await prepareRun(ws, path, { sets: ['params.lr=0.2'] }));
    expect(plan.cacheHit).toBeNull();
    expect(plan.why).toEqual([
      `command: "sh train.sh 0.1" → "sh train.sh 0.2" (since run ${first.id})`,
      `params.lr: 0.1 → 0.2 (since run ${first.id})`,
    ]);
    const forced = await submitRun(ws, await prepareRun(ws, path), { force: true });
    expect(forced.outcome).toBe('submitted');
    await waitRun(ws, forced.run.id, { pollMs: 50 });
    expect((await actions(ws)).filter((a) => a.startsWith('run.reuse'))).toEqual(['run.reuse:ok']);
    const u = await usageReport(ws, { by: 'project' });
    expect(u.total.runs).toBe(3);
    expect(u.series).toBeUndefined();
    // Per period: each run in the week it was created in, and the periods add up to the totals.
    const weekly = await usageReport(ws, { by: 'project', interval: 'week' });
    const created = await ws.meta.db.selectFrom('runs').select(['created_at', 'project']).execute();
    const weeks = [
      ...new Set(created.map((r) => periodStart('week', new Date(r.created_at)).toISOString().slice(0, 10))),
    ];
    expect(new Set(weekly.series!.map((p) => p.period))).toEqual(new Set(weeks));
    expect(weekly.series!.every((p) => new Date(`${p.period}T00:00:00Z`).getUTCDay() === 1)).toBe(true);
    const sum = (k: 'runs' | 'cpuHours' | 'savedGpuHours') => weekly.series!.reduce((n, p) => n + p[k], 0);
    expect(sum('runs')).toBe(3);
    expect(sum('cpuHours')).toBeCloseTo(weekly.total.cpuHours, 3);
    expect(sum('savedGpuHours')).toBeCloseTo(weekly.total.savedGpuHours, 3);
    // A budget's burn is what the budget check counts: none here, the runs asked for no GPU.
    const project = created[0]!.project;
    await setProject(ws, project, { budgetGpuHours: 12, period: 'week' });
    expect(await createComputeUsageService(ws).budgets()).toEqual([
      {
        name: project,
        gpuQuota: null,
        budgetGpuHours: 12,
        period: 'week',
        periodStart: periodStart('week', ws.clock.now()).toISOString(),
        usedGpuHours: 0,
      },
    ]);
  });

  it('a param holding shell syntax reaches the job as one argument, and nothing else runs', async () => {
    const { root, ws, spec } = await setup();
    const lr = `0.1; touch injected; echo $(touch injected2) 'q' "dq"`;
    const done = await waitRun(
      ws,
      (await submitRun(ws, await prepareRun(ws, spec(SPEC), { sets: [`params.lr=${lr}`] }))).run.id,
      { pollMs: 50 },
    );
    expect(done.status).toBe('completed');
    expect(readFileSync(join(done.dir, 'out', 'model.txt'), 'utf8')).toBe(`model for lr=${lr}\n`);
    expect([existsSync(join(root, 'injected')), existsSync(join(root, 'injected2'))]).toEqual([false, false]);
  });

  it('a job that writes to its input changes nothing the next run reads: inputs are read-only, and a changed copy is rebuilt', async () => {
    const { ws, spec } = await setup();
    // As root the modes do not stop it; as anyone else they do (2>/dev/null): either way the next run must read the version.
    const poison = SPEC.replace(
      'sh train.sh {params.lr}',
      'cat "$CAIRN_INPUT_TRAIN/d.csv" > "$CAIRN_OUTPUT_DIR/seen.csv"; echo 666,666 >> "$CAIRN_INPUT_TRAIN/d.csv" 2>/dev/null; echo x > "$CAIRN_INPUT_TRAIN/new.csv" 2>/dev/null; true # {params.lr}',
    );
    const first = await waitRun(ws, (await submitRun(ws, await prepareRun(ws, spec(poison)))).run.id, { pollMs: 50 });
    const second = await waitRun(
      ws,
      (await submitRun(ws, await prepareRun(ws, spec(poison), { sets: ['params.lr=0.2'] }))).run.id,
      { pollMs: 50 },
    );
    expect([first.status, second.status]).toEqual(['completed', 'completed']);
    expect(readFileSync(join(first.dir, 'out', 'seen.csv'), 'utf8')).toBe('x,y\n1,2\n3,4\n');
    expect(readFileSync(join(second.dir, 'out', 'seen.csv'), 'utf8')).toBe('x,y\n1,2\n3,4\n');
  });

  it("the cache never reuses another project's run, and a ref scoped to some projects resolves among their runs only", async () => {
    const { ws, spec } = await setup();
    // The project set on the command line: the code folder (and so the run key) is the same.
    const inProject = (project: string) => prepareRun(ws, spec(SPEC), { sets: [`project=${project}`] });
    const a = await waitRun(ws, (await submitRun(ws, await inProject('alpha'))).run.id, { pollMs: 50 });
    expect(a.status).toBe('completed');
    // Identical but for the project: it runs, and names no run of alpha.
    const pb = await inProject('beta');
    expect(pb.key).toBe((await inProject('alpha')).key);
    expect((await planRun(ws, pb)).cacheHit).toBeNull();
    expect(JSON.stringify(await planRun(ws, pb))).not.toContain(a.id);
    const b = await submitRun(ws, pb);
    expect([b.outcome, b.run.reused_from]).toEqual(['submitted', null]);
    const bDone = await waitRun(ws, b.run.id, { pollMs: 50 });
    // A prefix both ids share: ambiguous over every run, alpha's run for a reader of alpha alone.
    let n = 0;
    while (a.id[n] === bDone.id[n]) n++;
    const prefix = a.id.slice(0, n);
    await expect(getRun(ws, prefix)).rejects.toMatchObject({ code: 'AMBIGUOUS_REF' });
    expect((await getRun(ws, prefix, { projects: ['alpha'] })).id).toBe(a.id);
    // Control: the same project's identical run is reused.
    const again = await submitRun(ws, await inProject('alpha'));
    expect([again.outcome, again.run.reused_from]).toEqual(['reused', a.id]);
    // Another project's run, by its full id, is the same NOT_FOUND as a run that does not exist.
    const hidden = await getRun(ws, bDone.id, { projects: ['alpha'] }).catch((e: unknown) => e);
    const none = await getRun(ws, 'f'.repeat(bDone.id.length), { projects: ['alpha'] }).catch((e: unknown) => e);
    expect([(hidden as Error).message.replace(bDone.id, '?'), (hidden as { code?: string }).code]).toEqual([
      (none as Error).message.replace('f'.repeat(bDone.id.length), '?'),
      (none as { code?: string }).code,
    ]);
    await expect(getRun(ws, a.id, { projects: [] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('unknown keys and missing inputs are errors before anything is submitted', async () => {
    const { ws, spec } = await setup();
    await expect(prepareRun(ws, spec(`${SPEC}gpus: 2\n`))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/cairn\.yaml:9: unknown key "gpus"/),
    });
    await expect(prepareRun(ws, spec(SPEC.replace('toy@v1', 'toy@v7')))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('inputs.train: toy has no version v7'),
    });
    await expect(prepareRun(ws, spec(SPEC.replace('{params.lr}', '{params.nope}')))).rejects.toMatchObject({
      message: expect.stringContaining('{params.nope}'),
    });
    expect(await listRuns(ws)).toEqual([]);
  });

  it('a failing job, a job past its time limit and a cancelled job end as failed, timeout and cancelled', async () => {
    const { ws, spec } = await setup();
    const fail = await waitRun(
      ws,
      (
        await submitRun(
          ws,
          await prepareRun(ws, spec(SPEC.replace('sh train.sh {params.lr}', 'echo boom >&2; exit 3 # {params.lr}'))),
        )
      ).run.id,
      { pollMs: 50 },
    );
    expect([fail.status, fail.exit_code, JSON.parse(fail.reason!)]).toEqual([
      'failed',
      3,
      { code: 'EXIT', message: 'exited with status 3' },
    ]);
    const slow = SPEC.replace(
      'sh train.sh {params.lr}',
      'trap \'echo saved > "$CAIRN_CHECKPOINT_DIR/ckpt"; exit 143\' TERM; while true; do sleep 0.05; done # {params.lr}',
    );
    const timed = await waitRun(
      ws,
      (await submitRun(ws, await prepareRun(ws, spec(slow.replace('time: 5m', 'time: 1s'))))).run.id,
      { pollMs: 50 },
    );
    expect(timed.status).toBe('timeout');
    const { run } = await submitRun(ws, await prepareRun(ws, spec(slow)));
    await waitRun(ws, run.id, { pollMs: 50, timeoutMs: 200 }).catch(() => {});
    for (let i = 0; i < 100 && (await getRun(ws, run.id)).status !== 'running'; i++) {
      await syncRuns(ws);
      await new Promise((r) => setTimeout(r, 50));
    }
    await cancelRun(ws, run.id);
    const cancelled = await waitRun(ws, run.id, { pollMs: 50 });
    expect(cancelled.status).toBe('cancelled');
    // the grace period let the job checkpoint; an identical run finds it in the same folder
    const ckpt = join(ws.cairnDir, 'checkpoints', cancelled.run_key, 'ckpt');
    expect(readFileSync(ckpt, 'utf8')).toBe('saved\n');
    expect((await actions(ws)).filter((a) => /run\.(fail|cancel)/.test(a))).toEqual([
      'run.fail:failed',
      'run.fail:failed',
      'run.cancel:ok',
    ]);
  });

  it('a run over its project GPU quota waits with a reason and starts when GPUs free up; one over budget is refused', async () => {
    const { ws, spec } = await setup({ localGpus: [0, 1] });
    await setProject(ws, 'vision', { gpuQuota: 1, budgetGpuHours: 1, period: 'month' });
    const gpuSpec = (cmd: string, time = '10m') =>
      SPEC.replace('sh train.sh {params.lr}', `${cmd} # {params.lr}`)
        .replace('name: toy-train', `name: toy-train\nproject: vision`)
        .replace('time: 5m', `time: ${time}\n  gpus: 1`);
    const a = await submitRun(ws, await prepareRun(ws, spec(gpuSpec('echo "gpu=$CUDA_VISIBLE_DEVICES"; sleep 1'))));
    expect(a.outcome).toBe('submitted');
    const b = await submitRun(ws, await prepareRun(ws, spec(gpuSpec('echo "gpu=$CUDA_VISIBLE_DEVICES"'))));
    expect(b.outcome).toBe('queued');
    expect(JSON.parse((await getRun(ws, b.run.id)).reason!)).toEqual({
      code: 'QUOTA',
      message: 'project vision has 1 of its 1 GPU(s) in use; this run needs 1',
      project: 'vision',
      quota: 1,
      inUse: 1,
      requested: 1,
    });
    const doneA = await waitRun(ws, a.run.id, { pollMs: 50 });
    const doneB = await waitRun(ws, b.run.id, { pollMs: 50 });
    expect([doneA.status, doneB.status]).toEqual(['completed', 'completed']);
    expect(readFileSync(join(doneA.dir, 'stdout.log'), 'utf8')).toMatch(/^gpu=[01]\n$/);
    await expect(submitRun(ws, await prepareRun(ws, spec(gpuSpec('exit 0', '2h'))))).rejects.toMatchObject({
      code: 'BUDGET_EXCEEDED',
      message: expect.stringMatching(/used or committed .* of its 1 GPU-hours this month; this run may take 2 more/),
    });
    expect((await listRuns(ws, { status: 'refused' })).length).toBe(1);
    expect((await actions(ws)).filter((x) => x.startsWith('run.submit'))).toEqual([
      'run.submit:ok',
      'run.submit:ok',
      'run.submit:denied',
    ]);
  });

  it('a command killed while its job runs loses nothing: the next one finds the job and records its end', async () => {
    const { root, ws, spec } = await setup();
    const { run } = await submitRun(
      ws,
      await prepareRun(ws, spec(SPEC.replace('sh train.sh {params.lr}', 'sleep 1; sh train.sh {params.lr}'))),
    );
    // as if `cairn` died: close everything without waiting
    await ws.close();
    open.splice(open.indexOf(ws), 1);
    const { reopen } = await import('../../test-support/workspace.js');
    const again = runDeps(await reopen(root, 'bob@example.com'));
    open.push(again);
    const done = await waitRun(again, run.id, { pollMs: 50 });
    expect(done.status).toBe('completed');
    expect(existsSync(join(done.dir, 'out', 'model.txt'))).toBe(true);
  });
});
