import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import type { Clock } from '../../core/time.js';
import { openMetaStore, type MetaStore } from '../../meta/open.js';
import type { Database } from '../../meta/schema.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../test-support/services.js';
import { useTempDirs } from '../../test-support/temp.js';
import { MAX_LINE_BYTES, MetricsTailer } from './ingest.js';

// Awaited at the top so an unreachable server skips loudly (or fails with CAIRN_REQUIRE_SERVICES=1).
const pgAvailable = await postgresAvailable();

const CLOCK: Clock = { now: () => new Date('2026-11-27T05:00:00.000Z') };

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

const metric = (name: string, value: number, step: number | null = null, time?: string) =>
  `${JSON.stringify({ kind: 'metric', name, value, step, ...(time ? { time } : {}) })}\n`;
const param = (name: string, value: unknown) => `${JSON.stringify({ kind: 'param', name, value })}\n`;

function ingestSuite(name: string, open: () => Promise<{ store: MetaStore; cleanup: () => Promise<void> }>): void {
  describe(`MetricsTailer on ${name}`, () => {
    const tmp = useTempDirs();
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    let db: Kysely<Database>;
    let file: string;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      db = store.db;
      await insertRun(db, 'r1');
      file = join(tmp(), 'metrics.jsonl');
    });
    afterEach(async () => {
      await cleanup();
    });

    const metrics = (run = 'r1') =>
      db
        .selectFrom('run_metrics')
        .select(['name', 'step', 'value', 'time'])
        .where('run_id', '=', run)
        .orderBy('time')
        .orderBy('name')
        .orderBy('step')
        .execute();
    const params = (run = 'r1') =>
      db.selectFrom('run_params').select(['name', 'value']).where('run_id', '=', run).orderBy('name').execute();

    it('does nothing while the file does not exist', async () => {
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      expect(await t.ingestOnce()).toEqual({
        params: 0,
        metrics: 0,
        badCount: 0,
        bad: [],
        offset: 0,
        truncated: false,
      });
    });

    it('records params (last value wins, canonical JSON) and metrics with exact values', async () => {
      writeFileSync(
        file,
        param('lr', 0.1) +
          param('cfg', { b: [1, 2], a: 'x' }) +
          metric('loss', 0.5, 0, '2026-11-27T03:00:00Z') +
          metric('loss', 0.25, 1, '2026-11-27T03:00:01.5Z') +
          param('lr', 0.01) +
          metric('acc', 0.75) +
          'not json\n',
      );
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      const r = await t.ingestOnce();
      expect(r).toEqual({
        params: 2,
        metrics: 3,
        badCount: 1,
        bad: [{ line: 'not json', reason: 'not valid JSON' }],
        offset: readFileSync(file).length,
        truncated: false,
      });
      expect(await params()).toEqual([
        { name: 'cfg', value: '{"a":"x","b":[1,2]}' },
        { name: 'lr', value: '0.01' },
      ]);
      expect(await metrics()).toEqual([
        { name: 'loss', step: 0, value: 0.5, time: '2026-11-27T03:00:00.000Z' },
        { name: 'loss', step: 1, value: 0.25, time: '2026-11-27T03:00:01.500Z' },
        { name: 'acc', step: null, value: 0.75, time: '2026-11-27T05:00:00.000Z' },
      ]);
      // Later passes only add what is new; a param logged again in a later batch still wins.
      appendFileSync(file, param('lr', 'constant') + metric('loss', 0.125, 2, '2026-11-27T03:00:02Z'));
      expect(await t.ingestOnce()).toMatchObject({ params: 1, metrics: 1, badCount: 0 });
      expect((await params()).find((p) => p.name === 'lr')).toEqual({ name: 'lr', value: '"constant"' });
      expect(await metrics()).toHaveLength(4);
      expect(await t.ingestOnce()).toMatchObject({ params: 0, metrics: 0 });
    });

    it('leaves a partial line for the next pass, and takes it on the final one', async () => {
      const line = metric('loss', 1.5, 7, '2026-11-27T03:00:00Z');
      writeFileSync(file, line + line.slice(0, 25));
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      expect(await t.ingestOnce()).toMatchObject({ metrics: 1, offset: Buffer.byteLength(line) });
      appendFileSync(file, line.slice(25, -1)); // still no newline
      expect(await t.ingestOnce()).toMatchObject({ metrics: 0, offset: Buffer.byteLength(line) });
      const done = await t.ingestOnce({ final: true });
      expect(done).toMatchObject({ metrics: 1, badCount: 0, offset: 2 * Buffer.byteLength(line) - 1 });
      expect(await metrics()).toHaveLength(2);
    });

    it('resumes from a saved offset without counting a line twice', async () => {
      const lines = Array.from({ length: 10 }, (_, i) => metric('m', i, i, '2026-11-27T03:00:00Z'));
      writeFileSync(file, lines.slice(0, 4).join(''));
      const first = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      const { offset } = await first.ingestOnce();
      appendFileSync(file, lines.slice(4).join(''));
      const second = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK, offset });
      expect(await second.ingestOnce()).toMatchObject({ metrics: 6 });
      expect((await metrics()).map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('hands each batch to saveOffset inside its transaction', async () => {
      await sql`create table tail_state (run_id text primary key, "offset" bigint not null)`.execute(db);
      const saveOffset = async (trx: Kysely<Database>, offset: number) => {
        await sql`insert into tail_state (run_id, "offset") values (${'r1'}, ${offset}) on conflict (run_id) do update set "offset" = excluded."offset"`.execute(
          trx,
        );
      };
      writeFileSync(file, metric('a', 1) + metric('b', 2));
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK, saveOffset });
      await t.ingestOnce();
      const saved = await sql<{ offset: number }>`select "offset" from tail_state`.execute(db);
      expect(Number(saved.rows[0]!.offset)).toBe(t.offset);

      // A failing batch rolls back its rows together with its offset.
      appendFileSync(file, metric('c', 3));
      const failing = new MetricsTailer({
        db,
        runId: 'r1',
        file,
        clock: CLOCK,
        offset: t.offset,
        saveOffset: async () => Promise.reject(new Error('disk on fire')),
      });
      await expect(failing.ingestOnce()).rejects.toSatisfy(
        (e) => isCairnError(e, 'DB_ERROR') && /disk on fire/.test((e as Error).message),
      );
      expect(failing.offset).toBe(t.offset);
      expect(await metrics()).toHaveLength(2);
    });

    it('writes many points in batches and keeps every one', async () => {
      const n = 12_345;
      const parts: string[] = [];
      for (let i = 0; i < n; i++)
        parts.push(metric(i % 3 === 0 ? 'loss' : 'acc', i / 7, i, '2026-11-27T03:00:00.000Z'));
      writeFileSync(file, parts.join(''));
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      expect(await t.ingestOnce()).toMatchObject({ metrics: n, badCount: 0 });
      const agg = await db
        .selectFrom('run_metrics')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('step').as('steps')])
        .executeTakeFirstOrThrow();
      expect(Number(agg.n)).toBe(n);
      expect(Number(agg.steps)).toBe((n * (n - 1)) / 2);
      const last = await db
        .selectFrom('run_metrics')
        .select(['value'])
        .where('step', '=', n - 1)
        .executeTakeFirstOrThrow();
      expect(last.value).toBe((n - 1) / 7);
    });

    it('skips a line longer than 1 MiB and goes on after it', async () => {
      writeFileSync(
        file,
        metric('a', 1) +
          `{"kind":"param","name":"big","value":"${'x'.repeat(MAX_LINE_BYTES + 10)}"}\n` +
          metric('b', 2),
      );
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      const r = await t.ingestOnce();
      expect(r).toMatchObject({ metrics: 2, params: 0, badCount: 1 });
      expect(r.bad[0]!.reason).toBe(`line longer than ${MAX_LINE_BYTES} bytes`);
      expect(r.bad[0]!.line).toBe('{"kind":"param","name":"big","value":"' + 'x'.repeat(200 - 38));
      expect((await metrics()).map((m) => m.name)).toEqual(['a', 'b']);
    });

    it('starts over when the file is truncated', async () => {
      writeFileSync(file, metric('a', 1) + metric('b', 2));
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      await t.ingestOnce();
      truncateSync(file, 0);
      appendFileSync(file, metric('c', 3));
      expect(await t.ingestOnce()).toMatchObject({ metrics: 1, truncated: true });
    });

    it('refuses a run that does not exist', async () => {
      writeFileSync(file, metric('a', 1));
      const t = new MetricsTailer({ db, runId: 'nope', file, clock: CLOCK });
      await expect(t.ingestOnce()).rejects.toSatisfy((e) => isCairnError(e, 'NOT_FOUND'));
    });

    it('follows the file until aborted, and a final pass can overlap it', async () => {
      const t = new MetricsTailer({ db, runId: 'r1', file, clock: CLOCK });
      const ac = new AbortController();
      const seen: number[] = [];
      const following = t.follow({ intervalMs: 10, signal: ac.signal, onIngest: (r) => seen.push(r.metrics) });
      for (let i = 0; i < 5; i++) {
        appendFileSync(file, metric('m', i, i));
        await new Promise((r) => setTimeout(r, 25));
      }
      appendFileSync(file, metric('m', 5, 5).slice(0, -1)); // the job dies mid-line
      const final = t.ingestOnce({ final: true });
      ac.abort();
      const total = await following;
      await final;
      expect(total.metrics + (await final).metrics).toBe(6);
      expect((await metrics()).map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(seen.reduce((a, b) => a + b, 0)).toBe(total.metrics);
    });

    it('reports failed passes to onError and keeps polling', async () => {
      writeFileSync(file, metric('a', 1));
      const t = new MetricsTailer({ db, runId: 'missing', file, clock: CLOCK });
      const ac = new AbortController();
      const errors: unknown[] = [];
      const following = t.follow({ intervalMs: 5, signal: ac.signal, onError: (e) => errors.push(e) });
      await new Promise((r) => setTimeout(r, 60));
      ac.abort();
      await following;
      expect(errors.length).toBeGreaterThan(1);
      expect(errors.every((e) => isCairnError(e, 'NOT_FOUND'))).toBe(true);
    });
  });
}

ingestSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-metrics-'));
  const store = await openMetaStore(`sqlite:${join(dir, 'meta.db')}`);
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe.skipIf(!pgAvailable)('PostgreSQL', () => {
  ingestSuite('PostgreSQL', async () => {
    const { url, schema } = freshPgUrl();
    const store = await openMetaStore(url);
    return {
      store,
      cleanup: async () => {
        await store.close().catch(() => {});
        await dropSchema(schema);
      },
    };
  });
});
