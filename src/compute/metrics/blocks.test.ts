import { undoMigrationsAfter0011 } from '../../test-support/undo-migrations.js';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METRIC_BLOCK_MAX_LEVEL, METRIC_BLOCK_MIN_LEVEL } from '../../core/metric-blocks.js';
import { openMetaStore, type MetaStore } from '../../meta/open.js';
import type { Database } from '../../meta/schema.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../test-support/services.js';
import { useTempDirs } from '../../test-support/temp.js';
import { stepLevel, summarizeBlocks, type Block } from './blocks.js';
import { MetricsTailer } from './ingest.js';
import {
  bucketsFromBlocks,
  bucketsFromPoints,
  metricCurves,
  metricSeries,
  toBucket,
  type SeriesBucket,
} from './read.js';
import type { Point } from './summary.js';

const pgAvailable = await postgresAvailable();

/** Seeded xorshift32 in [0, 1): random histories that are the same on every run. */
function rng(seed: number): () => number {
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

/** The grid by its definition: the smallest power of two whose aligned ranges number at most `buckets`. */
function oracleLevel(first: number, last: number, buckets: number): number {
  for (let k = 0; ; k++) {
    const w = 2 ** k;
    if (Math.floor(last / w) - Math.floor(first / w) + 1 <= buckets) return k;
  }
}

interface Bucket {
  steps: [number, number];
  count: number;
  min: number;
  max: number;
  mean: number;
}

/** A stepped curve by its definition, from every point: what the database must answer. */
function oracle(points: readonly Point[], name: string, buckets: number): Bucket[] {
  const stepped = points.filter((p) => p.name === name && p.step !== null);
  const steps = stepped.map((p) => p.step!);
  const k = oracleLevel(Math.min(...steps), Math.max(...steps), buckets);
  const by = new Map<number, Point[]>();
  for (const p of stepped) {
    const b = Math.floor(p.step! / 2 ** k);
    // Appended in place: a copy per point made the one-bucket curves quadratic.
    const list = by.get(b);
    if (list) list.push(p);
    else by.set(b, [p]);
  }
  return [...by.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, ps]) => ({
      steps: [Math.min(...ps.map((p) => p.step!)), Math.max(...ps.map((p) => p.step!))],
      count: ps.length,
      min: Math.min(...ps.map((p) => p.value)),
      max: Math.max(...ps.map((p) => p.value)),
      mean: ps.reduce((s, p) => s + p.value, 0) / ps.length,
    }));
}

/** Equal in everything but the last bits of a mean (sums added in another order). */
function expectSameCurve(got: readonly Bucket[], want: readonly Bucket[], scale: number): void {
  expect(got.map(({ mean: _, ...b }) => b)).toEqual(want.map(({ mean: _, ...b }) => b));
  got.forEach((b, i) => expect(Math.abs(b.mean - want[i]!.mean)).toBeLessThanOrEqual(1e-9 * scale));
}

const plain = (bs: readonly SeriesBucket[]): Bucket[] =>
  bs.map((b) => ({ steps: b.steps!, count: b.count, min: b.min, max: b.max, mean: b.mean }));

/**
 * Steps as jobs log them: mostly rising with gaps, some repeated (a restart from a checkpoint),
 * some far behind (out of order), some without a step; values with spikes and ties. `far` adds
 * steps beyond the kept levels (2^45), which must take the path from the points.
 */
function randomPoints(next: () => number, n: number, at: { step: number }, far = false): Point[] {
  const names = ['loss', 'acc', 'sparse'];
  return Array.from({ length: n }, () => {
    const name = names[Math.floor(next() * names.length)]!;
    const r = next();
    let step: number | null;
    if (r < 0.05) step = null;
    else if (r < 0.15)
      step = Math.floor(next() * at.step + 1); // out of order / a repeat
    else step = at.step += Math.floor(next() * 40); // rising, gaps and duplicates
    if (name === 'sparse' && step !== null) step *= 1000;
    if (far && next() < 0.01 && step !== null) step += 2 ** 45;
    const spike = next() < 0.01 ? 1e6 : 1;
    return {
      name,
      step,
      value: (Math.round((next() - 0.5) * 2000) / 8) * spike + 0, // + 0: JSON has no -0
      time: new Date(Date.UTC(2026, 10, 27, 0, 0, Math.floor(next() * 30))).toISOString(),
    };
  });
}

const line = (p: Point) =>
  `${JSON.stringify({ kind: 'metric', name: p.name, value: p.value, step: p.step, time: p.time })}\n`;

async function insertRun(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .insertInto('runs')
    .values({
      id,
      run_key: `key-${id}`,
      name: 'train',
      project: 'default',
      spec_digest: 'd',
      spec: '{}',
      backend: 'local',
      backend_id: null,
      status: 'running',
      reason: null,
      exit_code: null,
      priority: 0,
      gpus: 0,
      cpus: 1,
      memory_mb: 0,
      time_limit_s: 0,
      created_at: '2026-11-27T00:00:00.000Z',
      created_by: 'tester@example.com',
      started_at: null,
      ended_at: null,
      restarts: 0,
      code_commit: null,
      code_dirty: null,
      env_digest: null,
      dir: '/tmp/run',
      output_version_id: null,
      reused_from: null,
      usage: '{}',
    })
    .execute();
}

/** Blocks of every level by their definition, one point at a time (no level built from another). */
function naiveBlocks(points: readonly Point[]): Map<string, Block> {
  const out = new Map<string, Block>();
  for (const p of points) {
    if (p.step === null) continue;
    for (let level = METRIC_BLOCK_MIN_LEVEL; level <= METRIC_BLOCK_MAX_LEVEL; level++) {
      const block = Math.floor(p.step / 2 ** level);
      const key = `${p.name}/${level}/${block}`;
      const b = out.get(key);
      if (!b)
        out.set(key, {
          name: p.name,
          level,
          block,
          points: 1,
          firstStep: p.step,
          lastStep: p.step,
          min: p.value,
          max: p.value,
          sum: p.value,
        });
      else {
        b.points++;
        b.firstStep = Math.min(b.firstStep, p.step);
        b.lastStep = Math.max(b.lastStep, p.step);
        b.min = Math.min(b.min, p.value);
        b.max = Math.max(b.max, p.value);
        b.sum += p.value;
      }
    }
  }
  return out;
}

function expectSameBlocks(got: readonly Block[], points: readonly Point[]): void {
  const want = naiveBlocks(points);
  expect(got.length).toBe(want.size);
  for (const b of got) {
    const w = want.get(`${b.name}/${b.level}/${b.block}`);
    expect(w, `${b.name}/${b.level}/${b.block}`).toBeDefined();
    const { sum, ...rest } = b;
    const { sum: wantSum, ...wantRest } = w!;
    expect(rest).toEqual(wantRest);
    expect(Math.abs(sum - wantSum)).toBeLessThanOrEqual(1e-9 * 1e6 * b.points);
  }
}

describe('metric blocks (pure)', () => {
  it('the grid is the smallest power of two whose aligned ranges fit the buckets', () => {
    const next = rng(11);
    for (let i = 0; i < 2000; i++) {
      const a = Math.floor(next() * 2 ** (next() * 50));
      const b = a + Math.floor(next() * 2 ** (next() * 50));
      const buckets = 1 + Math.floor(next() * 2000);
      const k = stepLevel(a, b, buckets);
      expect(k).toBe(oracleLevel(a, b, buckets));
      // At least half the buckets asked for, unless the steps themselves are fewer.
      if (k > 0) expect(Math.floor(b / 2 ** (k - 1)) - Math.floor(a / 2 ** (k - 1)) + 1).toBeGreaterThan(buckets);
    }
    expect(stepLevel(0, 99_999, 1000)).toBe(7);
    expect(stepLevel(5, 5, 1)).toBe(0);
    expect(stepLevel(Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER, 1)).toBe(1);
  });

  it('a batch folds level by level into the blocks each point gives by definition', () => {
    for (const seed of [1, 2, 3]) {
      const points = randomPoints(rng(seed), 3000, { step: 0 }, true);
      expectSameBlocks(summarizeBlocks(points), points);
    }
    expect(summarizeBlocks([{ name: 'm', step: null, value: 1, time: '2026-11-27T00:00:00.000Z' }])).toEqual([]);
  });
});

function blocksSuite(
  engine: string,
  open: () => Promise<{ store: MetaStore; reopen: () => Promise<MetaStore>; cleanup: () => Promise<void> }>,
): void {
  describe(`metric blocks on ${engine}`, () => {
    const tmp = useTempDirs();
    let store: MetaStore;
    let reopen: () => Promise<MetaStore>;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, reopen, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    const storedBlocks = async (db: Kysely<Database>, runId: string): Promise<Block[]> =>
      (await db.selectFrom('run_metric_blocks').selectAll().where('run_id', '=', runId).execute()).map((r) => ({
        name: r.name,
        level: Number(r.level),
        block: Number(r.block),
        points: Number(r.points),
        firstStep: Number(r.first_step),
        lastStep: Number(r.last_step),
        min: Number(r.min_value),
        max: Number(r.max_value),
        sum: Number(r.sum_value),
      }));

    it(
      'random histories in random batches: after every pass each curve from the blocks is the curve from the points',
      { timeout: 300_000 },
      async () => {
        for (const seed of [1, 2, 3]) {
          const runId = `seed-${seed}`;
          await insertRun(store.db, runId);
          const next = rng(seed);
          const file = join(tmp(), 'metrics.jsonl');
          const tailer = new MetricsTailer({ db: store.db, runId, file });
          const all: Point[] = [];
          const at = { step: 0 };
          for (let pass = 0; pass < 6; pass++) {
            const batch = randomPoints(next, Math.floor(next() * 1500), at, seed === 3);
            // A line the parser refuses (NaN is not JSON) must leave the curves as they were.
            appendFileSync(file, batch.map(line).join('') + '{"kind":"metric","name":"loss","value":NaN,"step":1}\n');
            all.push(...batch);
            const r = await tailer.ingestOnce();
            expect(r.badCount).toBe(1);
            for (const name of ['loss', 'acc', 'sparse']) {
              if (!all.some((p) => p.name === name && p.step !== null)) continue;
              for (const buckets of [1, 2, 7, 40, 300, 1000]) {
                const s = await metricSeries(store.db, runId, name, buckets);
                expect(s.by).toBe('step');
                expect(s.buckets.length).toBeLessThanOrEqual(buckets);
                const got = s.buckets.map((b) => ({ ...b, steps: b.steps! }));
                for (const b of got) expect(b.times).toBeNull();
                expectSameCurve(
                  got.map(({ times: _, ...b }) => b),
                  oracle(all, name, buckets),
                  1e6,
                );
              }
              // Every kept level, read both ways, whichever the grids above happened to use.
              const m = { db: store.db, runId, name };
              for (let level = METRIC_BLOCK_MIN_LEVEL; level <= METRIC_BLOCK_MAX_LEVEL; level += 7)
                expectSameCurve(
                  plain(await bucketsFromBlocks(m, level)),
                  plain((await bucketsFromPoints(m, level)).map((r) => toBucket(r, true))),
                  1e6,
                );
            }
          }
          expectSameBlocks(await storedBlocks(store.db, runId), all);
        }
      },
    );

    it('runs recorded before the blocks existed get theirs when the migration runs', { timeout: 120_000 }, async () => {
      await insertRun(store.db, 'r1');
      const points = randomPoints(rng(5), 4000, { step: 0 }, true);
      for (let i = 0; i < points.length; i += 500)
        await store.db
          .insertInto('run_metrics')
          .values(points.slice(i, i + 500).map((p) => ({ run_id: 'r1', ...p })))
          .execute();
      // Back to before 0011 (and so before the migrations after it, which must run in order).
      await undoMigrationsAfter0011(store.db as never);
      await sql`drop table run_metric_blocks`.execute(store.db);
      await sql`delete from kysely_migration where name = '0011-metric-blocks'`.execute(store.db);
      await store.close();
      store = await reopen();
      expectSameBlocks(await storedBlocks(store.db, 'r1'), points);
      // The summaries were not kept by these inserts; the curves read them, so add them as ingestion would.
      const { summarize, upsertSummaries } = await import('./summary.js');
      await upsertSummaries(store.db, 'r1', summarize(points));
      for (const buckets of [3, 100, 1000])
        expectSameCurve(
          (await metricSeries(store.db, 'r1', 'loss', buckets)).buckets.map((b) => ({
            steps: b.steps!,
            count: b.count,
            min: b.min,
            max: b.max,
            mean: b.mean,
          })),
          oracle(points, 'loss', buckets),
          1e6,
        );
    });

    it('many runs in one call: each its own curve, a run without the metric gets none', async () => {
      const lines: string[] = [];
      for (const [k, id] of ['a', 'b', 'c'].entries()) {
        await insertRun(store.db, id);
        if (id === 'c') continue;
        const file = join(tmp(), `${id}.jsonl`);
        for (let i = 0; i < 20_000; i++)
          lines.push(
            line({
              name: 'loss',
              step: i,
              value: i === 777 * (k + 1) ? 99 : i / 1000,
              time: '2026-11-27T00:00:00.000Z',
            }),
          );
        appendFileSync(file, lines.splice(0).join(''));
        await new MetricsTailer({ db: store.db, runId: id, file }).ingestOnce();
      }
      const curves = await metricCurves(store.db, ['a', 'b', 'c'], 'loss', 1000);
      expect(curves.map((c) => [c.id, c.points, c.buckets.length])).toEqual([
        ['a', 20_000, 625],
        ['b', 20_000, 625],
        ['c', 0, 0],
      ]);
      expect(curves[0]!.buckets[24]).toMatchObject({ steps: [768, 799], count: 32, max: 99 });
      expect(curves[1]!.buckets[48]).toMatchObject({ steps: [1536, 1567], count: 32, max: 99 });
    });
  });
}

blocksSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-blocks-'));
  const url = `sqlite:${join(dir, 'meta.db')}`;
  const opened: MetaStore[] = [await openMetaStore(url)];
  return {
    store: opened[0]!,
    reopen: async () => {
      const s = await openMetaStore(url);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe.skipIf(!pgAvailable)('PostgreSQL', () => {
  blocksSuite('PostgreSQL', async () => {
    const { url, schema } = freshPgUrl();
    const opened: MetaStore[] = [await openMetaStore(url)];
    return {
      store: opened[0]!,
      reopen: async () => {
        const s = await openMetaStore(url);
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened) await s.close().catch(() => {});
        await dropSchema(schema);
      },
    };
  });
});
