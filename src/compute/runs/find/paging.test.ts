import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Insertable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Workspace } from '../../../app/workspace.js';
import type { RunMetricSummariesTable, RunsTable } from '../../../meta/schema.js';
import { systemClock } from '../../../core/time.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../../test-support/services.js';
import { newWorkspace } from '../../../test-support/workspace.js';
import { fieldValue, parseSort, type RunRecord } from './fields.js';
import { compareValues, matches, parseFilter } from './filter.js';
import { findRuns, record } from './list.js';
import { planFilter } from './plan.js';

// The run table's paging, filter and sort are answered by the database from its indexes
// (plan.ts, sql.ts) and checked again in memory only where the plan is wider than the filter.
// Property: for random filters, sorts and pages over a few thousand runs with awkward values
// (numbers as text, null, booleans, missing params and metrics, a metric named like a stat),
// every page equals a naive filter and sort of all runs in memory.

const RUNS = 2500;

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

const pick = <T>(next: () => number, xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;

/** A param value of any kind a spec can hold, or undefined (not set). */
function paramValue(next: () => number): unknown {
  return pick(next, [
    () => pick(next, [0.1, 0.03, 0.01, 0.003, 0.001, 0, -1, 1e-5]),
    () => pick(next, ['0.01', '0.1', ' 0.003 ', 'adam', '', '1e-3', '0x10']),
    () => null,
    () => pick(next, [true, false]),
    () => ({ a: 1 }),
    () => [0.01],
    () => undefined,
  ])();
}

async function seed(ws: Workspace): Promise<void> {
  const next = rng(7);
  for (let start = 0; start < RUNS; start += 250) {
    const runs: Array<Insertable<RunsTable>> = [];
    const params: Array<{ run_id: string; name: string; value: string }> = [];
    const sums: Array<Insertable<RunMetricSummariesTable>> = [];
    for (let i = start; i < Math.min(RUNS, start + 250); i++) {
      const id = `01936d9e-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
      // Some runs share a creation time: the id breaks the tie, in the database and here.
      const created = new Date(Date.UTC(2026, 10, 1) + Math.floor(i / 3) * 60_000).toISOString();
      runs.push({
        id,
        run_key: `k-${i}`,
        name: i % 4 ? 'train' : 'finetune',
        project: i % 5 ? 'default' : 'vision',
        spec_digest: 'd',
        spec: '{}',
        backend: 'local',
        backend_id: null,
        status: pick(next, ['completed', 'failed', 'cancelled']),
        reason: null,
        exit_code: 0,
        priority: 0,
        gpus: i % 3,
        cpus: 1,
        memory_mb: 0,
        time_limit_s: 0,
        created_at: created,
        created_by: 't@example.com',
        started_at: created,
        ended_at: created,
        restarts: 0,
        code_commit: null,
        code_dirty: null,
        env_digest: null,
        dir: `/nowhere/${id}`,
        output_version_id: null,
        reused_from: null,
        usage: '{}',
        human_name: `run-${i}`,
        tags: next() < 0.5 ? '{}' : JSON.stringify({ team: pick(next, ['a', 'b']) }),
        note: null,
      });
      for (const name of ['lr', 'opt', 'batch']) {
        const v = name === 'batch' ? pick(next, [16, 32, 64, undefined]) : paramValue(next);
        if (v !== undefined) params.push({ run_id: id, name, value: JSON.stringify(v) });
      }
      const metric = (name: string, v: number) =>
        sums.push({
          run_id: id,
          name,
          points: 1 + Math.floor(next() * 100),
          min_value: v - next(),
          max_value: v + next(),
          first_step: 0,
          first_time: created,
          last_value: v,
          last_step: 9,
          last_time: created,
        });
      if (next() < 0.9) metric('acc', Math.round(next() * 100) / 100);
      if (next() < 0.7) metric('loss', Math.round(next() * 50) / 10);
      if (next() < 0.05) metric('acc.max', Math.round(next() * 100) / 100);
    }
    await ws.meta.db.transaction().execute(async (tx) => {
      await tx.insertInto('runs').values(runs).execute();
      if (params.length) await tx.insertInto('run_params').values(params).execute();
      if (sums.length) await tx.insertInto('run_metric_summaries').values(sums).execute();
    });
  }
}

/** Every run as the finder sees it, read whole: the naive side of the property. */
async function everything(ws: Workspace): Promise<RunRecord[]> {
  const rows = await ws.meta.db.selectFrom('runs').selectAll().execute();
  const params = await ws.meta.db.selectFrom('run_params').selectAll().execute();
  const sums = await ws.meta.db.selectFrom('run_metric_summaries').selectAll().execute();
  const now = systemClock.now().getTime();
  return rows.map((r) => {
    const p: Record<string, unknown> = {};
    for (const x of params) if (x.run_id === r.id) p[x.name] = JSON.parse(x.value);
    const m: RunRecord['metrics'] = {};
    for (const s of sums)
      if (s.run_id === r.id)
        m[s.name] = {
          last: Number(s.last_value),
          min: Number(s.min_value),
          max: Number(s.max_value),
          points: Number(s.points),
        };
    return record(r, p, m, now);
  });
}

function naive(all: RunRecord[], filter: string, sort: string, project?: string): string[] {
  const tree = filter ? parseFilter(filter) : null;
  const keys = parseSort(sort);
  const newestFirst = (a: RunRecord, b: RunRecord) => {
    const [ac, bc] = [String(a.base.created), String(b.base.created)];
    if (ac !== bc) return ac < bc ? 1 : -1;
    return String(a.base.id) < String(b.base.id) ? 1 : -1;
  };
  return all
    .filter((r) => (!project || r.base.project === project) && (!tree || matches(tree, (f) => fieldValue(r, f))))
    .sort((a, b) => {
      for (const k of keys) {
        const [x, y] = [fieldValue(a, k.field), fieldValue(b, k.field)];
        const [xm, ym] = [x === undefined || x === null, y === undefined || y === null];
        if (xm || ym) {
          if (xm !== ym) return xm ? 1 : -1;
          continue;
        }
        const c = compareValues(x, y) ?? (typeof x === 'number' ? -1 : typeof y === 'number' ? 1 : 0);
        if (c !== 0) return k.desc ? -c : c;
      }
      return newestFirst(a, b);
    })
    .map((r) => String(r.base.id));
}

const FIELDS = [
  'params.lr',
  'params.opt',
  'params.batch',
  'params.none',
  'metrics.acc',
  'metrics.loss',
  'metrics.acc.max',
  'metrics.loss.min',
  'metrics.acc.points',
  'metrics.none',
  'status',
  'tags.team',
];
const OPS = ['==', '!=', '<', '<=', '>', '>=', '~'];
const VALUES = ['0.01', '0.5', '0', '-1', '32', '1e-3', 'null', "'0.01'", 'adam', 'true', 'completed', "''", '2.5'];

function randomFilter(next: () => number, depth = 0): string {
  const r = next();
  if (depth < 3 && r < 0.25) return `${randomFilter(next, depth + 1)} and ${randomFilter(next, depth + 1)}`;
  if (depth < 3 && r < 0.4) return `(${randomFilter(next, depth + 1)} or ${randomFilter(next, depth + 1)})`;
  if (depth < 3 && r < 0.5) return `not (${randomFilter(next, depth + 1)})`;
  return `${pick(next, FIELDS)} ${pick(next, OPS)} ${pick(next, VALUES)}`;
}

// Sorts by fields of one kind each: a param holding numbers, text and booleans at once has no
// total order (numbers and numeric text compare as numbers, other text as text), so where runs
// land among incomparable neighbours depends on the sort's steps, not on the rule.
// Sorts by metrics alone are ordered by the database (with no filter or an exact one), the rest here.
const SORTS = [
  '',
  '-metrics.acc',
  'params.batch',
  '-params.batch,metrics.loss',
  'metrics.acc.max',
  'status,-created',
  '-metrics.loss.min',
  'metrics.acc.points,-metrics.acc',
  '-metrics.none,metrics.loss',
];

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
])('the run table on %s: paged, filtered, sorted by the database as a naive in-memory pass would', (_, pg) => {
  // One workspace for the file (seeding it is the slow part), removed after its tests.
  let dir = '';
  let ws: Workspace | null = null;
  let schema: string | null = null;
  let all: RunRecord[] = [];

  beforeAll(async () => {
    if (pg && !(await postgresAvailable())) return;
    dir = mkdtempSync(join(tmpdir(), 'cairn-paging-'));
    const url = pg ? freshPgUrl() : null;
    schema = url?.schema ?? null;
    ws = await newWorkspace(dir, url ? { metadataUrl: url.url } : {});
    await seed(ws);
    all = await everything(ws);
  }, 120_000);
  afterAll(async () => {
    await ws?.close();
    if (schema) await dropSchema(schema);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('random filters, sorts and pages: the same runs, in the same order, and the same count', async () => {
    if (!ws) return;
    const next = rng(pg ? 99 : 42);
    const deps = { meta: ws.meta, clock: systemClock };
    let planned = 0;
    for (let i = 0; i < 150; i++) {
      const filter = i === 0 ? '' : randomFilter(next);
      const sort = pick(next, SORTS);
      const project = next() < 0.2 ? 'vision' : undefined;
      const limit = pick(next, [1, 7, 50, 1000]);
      const expected = naive(all, filter, sort, project);
      const offset = Math.floor(next() * Math.min(expected.length + 5, 300));
      if (filter && planFilter(parseFilter(filter))) planned++;
      const got = await findRuns(deps, {
        filter,
        sort,
        limit,
        offset,
        columns: ['params.lr', 'metrics.acc.max'],
        ...(project ? { project } : {}),
      });
      const label = JSON.stringify({ filter, sort, project, limit, offset });
      expect({ label, matched: got.matched }).toEqual({ label, matched: expected.length });
      expect({ label, ids: got.runs.map((r) => r.id) }).toEqual({ label, ids: expected.slice(offset, offset + limit) });
      for (const r of got.runs) {
        const rec = all.find((x) => x.base.id === r.id)!;
        expect(r.values).toEqual({
          'params.lr': fieldValue(rec, 'params.lr') ?? null,
          'metrics.acc.max': fieldValue(rec, 'metrics.acc.max') ?? null,
        });
      }
    }
    // Most of the random filters went through the database's indexes, not the in-memory pass alone.
    expect(planned).toBeGreaterThan(40);
  }, 300_000);

  it('the filter the web UI benchmarks, and its negation and complement, cover every run exactly once', async () => {
    if (!ws) return;
    const deps = { meta: ws.meta, clock: systemClock };
    const f = 'metrics.acc > 0.5 and params.lr < 0.01';
    const yes = await findRuns(deps, { filter: f, limit: RUNS });
    const no = await findRuns(deps, { filter: `not (${f})`, limit: RUNS });
    expect(yes.matched + no.matched).toBe(RUNS);
    expect(new Set([...yes.runs, ...no.runs].map((r) => r.id)).size).toBe(RUNS);
    expect(yes.runs.map((r) => r.id)).toEqual(naive(all, f, ''));
  }, 120_000);
});
