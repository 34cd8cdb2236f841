import { undoMigrationsAfter0011 } from '../../test-support/undo-migrations.js';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { humanRunName } from '../../core/run-names.js';
import { openMetaStore, type MetaStore } from '../../meta/open.js';
import type { Database } from '../../meta/schema.js';
import { mulberry32 } from '../../test-support/prng.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../test-support/services.js';
import { useTempDirs } from '../../test-support/temp.js';
import { MetricsTailer } from './ingest.js';
import { metricSeries, metricSummaries, type MetricSummary } from './read.js';
import { summarize, type Point } from './summary.js';

const pgAvailable = await postgresAvailable();

/** The summary by definition, from every point (the oracle the stored one must equal). */
function expected(points: readonly Point[]): MetricSummary[] {
  return [...summarize(points).values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((s) => ({
      name: s.name,
      points: s.points,
      last: s.last_value,
      lastStep: s.last_step,
      lastTime: s.last_time,
      min: s.min_value,
      max: s.max_value,
      firstStep: s.first_step,
      firstTime: s.first_time,
    }));
}

/** Points with clashing steps, no steps, equal times and times out of order, as jobs log them. */
function randomPoints(next: () => number, n: number): Point[] {
  const names = ['loss', 'acc', 'lr'];
  return Array.from({ length: n }, () => ({
    name: names[Math.floor(next() * names.length)]!,
    step: next() < 0.2 ? null : Math.floor(next() * 50),
    value: Math.round((next() - 0.5) * 2000) / 8,
    time: new Date(Date.UTC(2026, 10, 27, 0, 0, Math.floor(next() * 30))).toISOString(),
  }));
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

describe('metric summaries (pure)', () => {
  it('the last point is the highest step, then the latest time, then the later logged', () => {
    const t = '2026-11-27T00:00:00.000Z';
    const later = '2026-11-27T00:00:01.000Z';
    const s = summarize([
      { name: 'm', step: 3, value: 1, time: later },
      { name: 'm', step: null, value: 9, time: '2026-11-28T00:00:00.000Z' },
      { name: 'm', step: 5, value: 2, time: t },
      { name: 'm', step: 5, value: 3, time: t },
      { name: 'm', step: 4, value: 4, time: later },
    ]).get('m')!;
    expect(s).toEqual({
      name: 'm',
      points: 5,
      min_value: 1,
      max_value: 9,
      first_step: 3,
      first_time: t,
      last_value: 3,
      last_step: 5,
      last_time: t,
    });
  });

  it('a million points summarize without spreading them into arguments', () => {
    const points = (function* () {
      for (let i = 0; i < 1_000_000; i++)
        yield { name: 'loss', step: i, value: i % 1000, time: '2026-11-27T00:00:00.000Z' };
    })();
    expect(summarize(points).get('loss')).toMatchObject({
      points: 1_000_000,
      min_value: 0,
      max_value: 999,
      last_step: 999_999,
    });
  });
});

function summarySuite(
  name: string,
  open: () => Promise<{ store: MetaStore; reopen: () => Promise<MetaStore>; cleanup: () => Promise<void> }>,
): void {
  describe(`metric summaries on ${name}`, () => {
    const tmp = useTempDirs();
    let store: MetaStore;
    let reopen: () => Promise<MetaStore>;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, reopen, cleanup } = await open());
      await insertRun(store.db, 'r1');
    });
    afterEach(async () => {
      await cleanup();
    });

    it(
      'random histories ingested in random batches: after every pass the stored summary is the summary of every point so far',
      { timeout: 120_000 },
      async () => {
        for (const seed of [1, 2, 3]) {
          const runId = `seed-${seed}`;
          await insertRun(store.db, runId);
          const next = mulberry32(seed);
          const file = join(tmp(), 'metrics.jsonl');
          const tailer = new MetricsTailer({ db: store.db, runId, file });
          const all: Point[] = [];
          for (let pass = 0; pass < 8; pass++) {
            const batch = randomPoints(next, Math.floor(next() * 400));
            appendFileSync(file, batch.map(line).join(''));
            all.push(...batch);
            await tailer.ingestOnce();
            expect(await metricSummaries(store.db, runId)).toEqual(expected(all));
          }
        }
      },
    );

    it('runs recorded before the summaries existed get theirs when the migration runs', async () => {
      const next = mulberry32(7);
      // Distinct (step, time) per metric: which of two identical points is "last" is the later-ingested one, which only ingestion knows.
      const points = randomPoints(next, 300).map((p, i) => ({ ...p, step: p.step === null ? null : i }));
      await store.db
        .insertInto('run_metrics')
        .values(points.map((p) => ({ run_id: 'r1', ...p })))
        .execute();
      await undoMigrationsAfter0011(store.db as never);
      await sql`drop table run_metric_blocks`.execute(store.db);
      await sql`delete from kysely_migration where name = '0011-metric-blocks'`.execute(store.db);
      for (const t of ['version_erasures', 'version_holds']) await sql`drop table ${sql.table(t)}`.execute(store.db);
      await sql`delete from kysely_migration where name = '0010-retention'`.execute(store.db);
      await sql`drop table identity_generation`.execute(store.db);
      await sql`delete from kysely_migration where name = '0009-identity-generation'`.execute(store.db);
      // Back to the schema before 0006: no summaries, the old index (and so before 0008: no run names).
      await sql`drop index runs_human_name`.execute(store.db);
      await sql`drop index runs_created`.execute(store.db);
      await sql`drop index run_params_name`.execute(store.db);
      await sql`drop index run_metric_summaries_name`.execute(store.db);
      for (const c of ['human_name', 'tags', 'note'])
        await sql`alter table runs drop column ${sql.ref(c)}`.execute(store.db);
      await sql`delete from kysely_migration where name = '0008-runs'`.execute(store.db);
      // and before 0007 (the server's tables), so the migrations after 0006 run again in order.
      for (const t of ['api_tokens', 'role_grants', 'idempotency_keys', 'principals'])
        await sql`drop table ${sql.table(t)}`.execute(store.db);
      await sql`delete from kysely_migration where name = '0007-server'`.execute(store.db);
      await sql`drop table run_metric_summaries`.execute(store.db);
      await sql`drop index run_metrics_curve`.execute(store.db);
      await sql`create index run_metrics_run on run_metrics (run_id, name, step)`.execute(store.db);
      await sql`delete from kysely_migration where name = '0006-metric-summaries'`.execute(store.db);
      await store.close();
      store = await reopen();
      expect(await metricSummaries(store.db, 'r1')).toEqual(expected(points));
      // 0008 ran again too: the run got its generated name.
      const r1 = await store.db
        .selectFrom('runs')
        .select(['human_name', 'tags'])
        .where('id', '=', 'r1')
        .executeTakeFirst();
      expect(r1).toEqual({ human_name: humanRunName('r1'), tags: '{}' });
    });

    it('a curve in buckets: by step ranges, or by time order without steps; counts add up and extremes survive', async () => {
      const file = join(tmp(), 'metrics.jsonl');
      const lines: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const time = new Date(Date.UTC(2026, 10, 27, 0, 0, 0, i)).toISOString();
        lines.push(line({ name: 'loss', step: i, value: i === 4321 ? 1e6 : Math.sin(i / 100), time }));
        if (i % 10 === 0) lines.push(line({ name: 'gpu', step: null, value: i, time }));
      }
      appendFileSync(file, lines.join(''));
      await new MetricsTailer({ db: store.db, runId: 'r1', file }).ingestOnce();
      const loss = await metricSeries(store.db, 'r1', 'loss', 100);
      // Aligned ranges of 2^7 steps: the smallest power of two that fits 10,000 steps in 100.
      expect([loss.by, loss.points, loss.buckets.length]).toEqual(['step', 10_000, 79]);
      expect(loss.buckets.reduce((n, b) => n + b.count, 0)).toBe(10_000);
      expect(loss.buckets[0]!.steps).toEqual([0, 127]);
      expect(Math.max(...loss.buckets.map((b) => b.max))).toBe(1e6);
      expect(loss.buckets[33]!).toMatchObject({ steps: [4224, 4351], max: 1e6 });
      const gpu = await metricSeries(store.db, 'r1', 'gpu', 7);
      expect([gpu.by, gpu.points, gpu.buckets.length]).toEqual(['time', 1000, 7]);
      expect(gpu.buckets.reduce((n, b) => n + b.count, 0)).toBe(1000);
      expect([gpu.buckets[0]!.min, gpu.buckets.at(-1)!.max]).toEqual([0, 9990]);
      expect(gpu.buckets.every((b, i) => i === 0 || b.times![0] >= gpu.buckets[i - 1]!.times![1])).toBe(true);
      expect(loss.buckets[0]!.times).toBeNull();
      await expect(metricSeries(store.db, 'r1', 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });
}

summarySuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-summary-'));
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
  summarySuite('PostgreSQL', async () => {
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
