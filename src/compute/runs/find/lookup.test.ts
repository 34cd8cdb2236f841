import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../core/canonical-json.js';
import { openMetaStore, type MetaStore } from '../../../meta/open.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../../test-support/services.js';
import type { RunRow } from '../store.js';
import { getRun } from '../store.js';
import { fieldValue } from './fields.js';
import { matches, parseFilter } from './filter.js';
import { findRuns, record } from './list.js';

const pgAvailable = await postgresAvailable();

/** Run rows as the database holds them, without jobs: what the finder reads (the bench uses the same shape). */
function row(i: number, over: Partial<RunRow> = {}): RunRow {
  const id = `01a30000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
  return {
    id,
    run_key: `key-${i}`,
    name: i % 2 ? 'train' : 'eval',
    project: i % 3 ? 'default' : 'vision',
    spec_digest: 'd',
    spec: '{}',
    backend: 'local',
    backend_id: null,
    status: i % 5 ? 'completed' : 'failed',
    reason: null,
    exit_code: i % 5 ? 0 : 1,
    priority: 0,
    gpus: i % 4,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 0,
    created_at: new Date(Date.UTC(2026, 11, 1) + i * 1000).toISOString(),
    created_by: 'tester@example.com',
    started_at: new Date(Date.UTC(2026, 11, 1) + i * 1000).toISOString(),
    ended_at: new Date(Date.UTC(2026, 11, 1) + i * 1000 + (i % 7) * 600_000).toISOString(),
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    dir: '/tmp/run',
    output_version_id: null,
    reused_from: null,
    usage: '{}',
    metrics_offset: 0,
    human_name: `run-${i}`,
    tags: canonicalJson(i % 2 ? { team: 'a' } : {}),
    note: null,
    ...over,
  };
}

async function fill(store: MetaStore, n: number): Promise<void> {
  const rows = Array.from({ length: n }, (_, i) => row(i));
  await store.db.insertInto('runs').values(rows).execute();
  await store.db
    .insertInto('run_params')
    .values(
      rows.flatMap((r, i) => [
        { run_id: r.id, name: 'lr', value: JSON.stringify([0.001, 0.01, 0.1][i % 3]) },
        ...(i % 4 ? [{ run_id: r.id, name: 'opt', value: JSON.stringify(i % 8 < 4 ? 'adam' : 'sgd') }] : []),
      ]),
    )
    .execute();
  await store.db
    .insertInto('run_metric_summaries')
    .values(
      rows
        .filter((_, i) => i % 6)
        .map((r, i) => ({
          run_id: r.id,
          name: 'acc',
          points: 10,
          min_value: 0,
          max_value: ((i * 37) % 100) / 100,
          first_step: 0,
          first_time: r.created_at,
          last_value: ((i * 31) % 100) / 100,
          last_step: 9,
          last_time: r.created_at,
        })),
    )
    .execute();
}

function lookupSuite(name: string, open: () => Promise<{ store: MetaStore; cleanup: () => Promise<void> }>): void {
  describe(`run lookup and listing on ${name}`, () => {
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    const clock = { now: () => new Date(Date.UTC(2026, 11, 2)) };
    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await fill(store, 120);
    });
    afterEach(async () => cleanup());

    it('names and prefixes resolve; an exact name beats a longer one it prefixes; wildcards are literal', async () => {
      const deps = { meta: store };
      expect((await getRun(deps, 'run-7')).id).toBe(row(7).id);
      expect((await getRun(deps, 'run-11')).id).toBe(row(11).id); // also a prefix of run-110…119
      expect((await getRun(deps, 'run-119')).id).toBe(row(119).id);
      await store.db
        .insertInto('runs')
        .values(row(0x1388, { human_name: 'odd-one' }))
        .execute();
      expect((await getRun(deps, row(0x1388).id.slice(0, 33))).id).toBe(row(0x1388).id);
      const amb = await getRun(deps, row(0x70).id.slice(0, 35)).catch((e: unknown) => e);
      expect(amb).toMatchObject({ code: 'AMBIGUOUS_REF', data: { candidates: expect.any(Array) } });
      expect((amb as { data: { candidates: unknown[] } }).data.candidates).toHaveLength(8);
      await expect(getRun(deps, 'run-')).rejects.toMatchObject({
        code: 'AMBIGUOUS_REF',
        message: expect.stringContaining('matches more than 10 runs'),
      });
      await expect(getRun(deps, 'run-4%')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(getRun(deps, 'run_4')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(getRun(deps, 'run\\')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('invariant: ls with a filter and a sort is exactly the brute-force filter and order over every run', async () => {
      const deps = { meta: store, clock };
      const rows = await store.db.selectFrom('runs').selectAll().execute();
      const params = await store.db.selectFrom('run_params').selectAll().execute();
      const sums = await store.db.selectFrom('run_metric_summaries').selectAll().execute();
      const recs = rows.map((r) =>
        record(
          r,
          Object.fromEntries(params.filter((p) => p.run_id === r.id).map((p) => [p.name, JSON.parse(p.value)])),
          Object.fromEntries(
            sums
              .filter((m) => m.run_id === r.id)
              .map((m) => [
                m.name,
                {
                  last: Number(m.last_value),
                  min: Number(m.min_value),
                  max: Number(m.max_value),
                  points: Number(m.points),
                },
              ]),
          ),
          clock.now().getTime(),
        ),
      );
      const filters = [
        'metrics.acc > 0.5',
        "metrics.acc.max >= 0.3 and params.opt == 'adam'",
        'params.lr < 0.05 or status == failed',
        'not (tags.team == a) and gpus >= 2',
        'metrics.acc == null',
        'duration > 1200 and project != vision',
      ];
      for (const f of filters) {
        const want = recs.filter((r) => matches(parseFilter(f), (x) => fieldValue(r, x))).map((r) => r.base.id);
        const got = await findRuns(deps, { filter: f, sort: '-metrics.acc,id', limit: 1000, columns: ['metrics.acc'] });
        expect([...got.runs.map((r) => r.id)].sort()).toEqual([...want].sort());
        expect(got.matched).toBe(want.length);
        // Sorted: descending acc, runs without it last, ties by id.
        const accs = got.runs.map((r) => r.values['metrics.acc'] as number | null);
        const firstMissing = accs.indexOf(null);
        const present = firstMissing < 0 ? accs : accs.slice(0, firstMissing);
        expect(present).toEqual([...present].sort((a, b) => b! - a!));
        if (firstMissing >= 0) expect(accs.slice(firstMissing).every((a) => a === null)).toBe(true);
      }
      const limited = await findRuns(deps, { sort: '-metrics.acc', limit: 5, project: 'vision' });
      expect(limited.runs).toHaveLength(5);
      expect(limited.runs.every((r) => r.project === 'vision')).toBe(true);
    });
  });
}

lookupSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-lookup-'));
  const store = await openMetaStore(join(dir, 'meta.db'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe.skipIf(!pgAvailable)('PostgreSQL', () => {
  lookupSuite('PostgreSQL', async () => {
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
