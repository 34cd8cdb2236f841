import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../../app/compute.js';
import type { Workspace } from '../../../app/workspace.js';
import type { CairnError } from '../../../core/errors.js';
import { humanRunName } from '../../../core/run-names.js';
import { useTempDirs } from '../../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../../test-support/workspace.js';
import { prepareRun } from '../prepare.js';
import { getRun } from '../store.js';
import { submitRun, type RunLabel } from '../submit.js';
import { waitRun } from '../sync.js';
import { compareRuns } from './compare.js';
import { findRuns } from './list.js';

// Real runs on the local backend: each logs acc = 10 × lr and a falling loss, then runs are
// found by name and prefix, filtered, sorted and compared.
describe('finding and comparing runs', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const setup = async () => {
    const root = tmp();
    const ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    open.push(ws);
    writeTree(root, {
      'train.sh': [
        'echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"acc\\",\\"value\\":$(awk "BEGIN { print $1 * 10 }"),\\"step\\":0}" >> "$CAIRN_METRICS_FILE"',
        'for s in 0 1 2; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"val/loss\\",\\"value\\":$((3 - s)),\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done',
      ].join('\n'),
    });
    const spec = join(root, 'cairn.yaml');
    writeFileSync(
      spec,
      'name: train\ncommand: sh train.sh {params.lr} {params.opt}\nparams:\n  lr: 0.01\n  opt: adam\n',
    );
    const submit = async (sets: string[], label?: RunLabel) => {
      const { run } = await submitRun(ws, await prepareRun(ws, spec, { sets }), label ? { label } : {});
      return waitRun(ws, run.id, { pollMs: 50 });
    };
    return { ws, submit };
  };

  it('names: generated from the id (or given), with tags and a note, in the row and in the audited submission', async () => {
    const { ws, submit } = await setup();
    const a = await submit([]);
    const b = await submit(['params.lr=0.05'], { name: 'wide-lr', tags: { team: 'vision', ab: 'x' }, note: 'try 5x' });
    expect(a.human_name).toBe(humanRunName(a.id));
    expect([b.human_name, JSON.parse(b.tags), b.note]).toEqual(['wide-lr', { ab: 'x', team: 'vision' }, 'try 5x']);
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['entry', 'target_name'])
      .where('action', '=', 'run.submit')
      .orderBy('idx')
      .execute();
    const params = events.map((e) => (JSON.parse(e.entry) as { params: Record<string, unknown> }).params);
    expect(params.map((p) => [p.humanName, p.tags, p.note])).toEqual([
      [a.human_name, {}, undefined],
      ['wide-lr', { ab: 'x', team: 'vision' }, 'try 5x'],
    ]);
    await expect(submit([], { name: 'bad name' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(submit([], { tags: { '1x': 'y' } })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('a run is found by id, name, or a unique prefix of either; an ambiguous prefix lists the candidates', async () => {
    const { ws, submit } = await setup();
    const a = await submit([], { name: 'alpha-one' });
    const b = await submit(['params.lr=0.02'], { name: 'alpha-two' });
    const c = await submit(['params.lr=0.03'], { name: 'alpha-two' });
    expect((await getRun(ws, a.id)).id).toBe(a.id);
    expect((await getRun(ws, 'alpha-one')).id).toBe(a.id);
    expect((await getRun(ws, 'alpha-o')).id).toBe(a.id);
    expect((await getRun(ws, b.id.slice(0, 30))).id).toBe(b.id);
    const amb = async (ref: string) => {
      try {
        await getRun(ws, ref);
      } catch (e) {
        return e as CairnError;
      }
      throw new Error(`${ref} resolved`);
    };
    // The same name twice, a prefix of both names, and a UUIDv7 prefix (the same millisecond range).
    const twice = await amb('alpha-two');
    expect([twice.code, (twice.data.candidates as Array<{ id: string }>).map((x) => x.id).sort()]).toEqual([
      'AMBIGUOUS_REF',
      [b.id, c.id].sort(),
    ]);
    expect(twice.message).toContain(b.id);
    expect((await amb('alpha')).data.candidates).toHaveLength(3);
    expect((await amb(a.id.slice(0, 8))).code).toBe('AMBIGUOUS_REF');
    await expect(getRun(ws, 'nosuch')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // LIKE wildcards in a ref are literal characters, not patterns.
    await expect(getRun(ws, '%')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(getRun(ws, 'alpha_one')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('run ls: filter, sort (missing values last), columns and limit over real runs', async () => {
    const { ws, submit } = await setup();
    const runs = [];
    for (const [lr, opt] of [
      [0.01, 'adam'],
      [0.09, 'sgd'],
      [0.05, 'adam'],
      [0.07, 'adam'],
    ] as const)
      runs.push(await submit([`params.lr=${lr}`, `params.opt=${opt}`], { tags: { lr: String(lr) } }));
    const l = await findRuns(ws, {
      filter: "metrics.acc > 0.4 and params.opt == 'adam'",
      sort: '-metrics.acc',
      columns: ['params.lr', 'metrics.acc', 'metrics.val/loss.min', 'tags.lr', 'params.none'],
    });
    expect(l.matched).toBe(2);
    expect(l.runs.map((r) => r.values)).toEqual([
      { 'params.lr': 0.07, 'metrics.acc': 0.7, 'metrics.val/loss.min': 1, 'tags.lr': '0.07', 'params.none': null },
      { 'params.lr': 0.05, 'metrics.acc': 0.5, 'metrics.val/loss.min': 1, 'tags.lr': '0.05', 'params.none': null },
    ]);
    // Without a filter or sort: newest first, cut by the database.
    const newest = await findRuns(ws, { limit: 2, columns: ['params.opt'] });
    expect([newest.runs.map((r) => r.id), newest.runs.map((r) => r.values['params.opt'])]).toEqual([
      [runs[3]!.id, runs[2]!.id],
      ['adam', 'adam'],
    ]);
    const asc = await findRuns(ws, { sort: 'params.opt,-params.lr', limit: 3 });
    expect(asc.runs.map((r) => r.id)).toEqual([runs[3]!.id, runs[2]!.id, runs[0]!.id]);
    expect(asc.matched).toBe(4);
    // A sort on a field some runs lack puts those last whatever the direction.
    await ws.meta.db.deleteFrom('run_metric_summaries').where('run_id', '=', runs[1]!.id).execute();
    for (const s of ['metrics.acc', '-metrics.acc'])
      expect((await findRuns(ws, { sort: s })).runs.at(-1)!.id).toBe(runs[1]!.id);
    await expect(findRuns(ws, { columns: ['acc'] })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(findRuns(ws, { filter: 'metrics.acc >' })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('run compare: params that differ, metrics last/min/max/best with the best run, durations and GPU-hours', async () => {
    const { ws, submit } = await setup();
    const a = await submit([], { name: 'small' });
    const b = await submit(['params.lr=0.08'], { name: 'big' });
    const c = await compareRuns(ws, ['small', 'big']);
    expect(c.runs.map((r) => [r.id, r.name, r.gpuHours])).toEqual([
      [a.id, 'small', 0],
      [b.id, 'big', 0],
    ]);
    expect(c.runs.every((r) => typeof r.durationS === 'number' && r.durationS >= 0)).toBe(true);
    expect(c.params).toEqual([
      { name: 'lr', values: [0.01, 0.08], differs: true },
      { name: 'opt', values: ['adam', 'adam'], differs: false },
    ]);
    expect(c.metrics).toEqual([
      {
        name: 'acc',
        better: 'higher',
        runs: [
          { last: 0.1, min: 0.1, max: 0.1, best: 0.1, points: 1 },
          { last: 0.8, min: 0.8, max: 0.8, best: 0.8, points: 1 },
        ],
        bestRun: b.id,
      },
      {
        name: 'val/loss',
        better: 'lower',
        runs: [
          { last: 1, min: 1, max: 3, best: 1, points: 3 },
          { last: 1, min: 1, max: 3, best: 1, points: 3 },
        ],
        bestRun: a.id,
      },
    ]);
    const flipped = await compareRuns(ws, ['small', 'big'], { lowerIsBetter: ['acc'] });
    expect(flipped.metrics[0]).toMatchObject({ better: 'lower', bestRun: a.id });
  });
});
