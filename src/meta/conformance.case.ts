import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetaDialect, MetaStore } from './open.js';
import * as audit from './repos/audit.js';
import * as chunks from './repos/chunks.js';
import * as datasets from './repos/datasets.js';
import * as lineage from './repos/lineage.js';
import type { AuditEventRow, Database, LineageEdgeRow, NewDatasetVersion } from './schema.js';
// eslint-disable-next-line no-restricted-imports -- tests exercise repositories directly
import { makeWriteTx } from './write-tx-factory.js';
import type { WriteTx } from './write-tx.js';

/** One metadata backend under test: a freshly migrated, empty store. */
export interface MetaUnderTest {
  db: Kysely<Database>;
  dialect: MetaDialect;
  /** Closes this handle only; the data stays for `reopen`. */
  close(): Promise<void>;
  /** Opens the same database again through `openMetaStore` (so migrations run again). */
  reopen(): Promise<MetaStore>;
  /** Closes every handle and deletes the database (temp file or PostgreSQL schema). */
  destroy(): Promise<void>;
}

export type MetaFactory = () => Promise<MetaUnderTest>;

const GIB = 1024 ** 3;

function hex(label: string | number): string {
  return createHash('sha256').update(String(label)).digest('hex');
}

function write<T>(db: Kysely<Database>, fn: (tx: WriteTx) => Promise<T>): Promise<T> {
  return db.transaction().execute((trx) => fn(makeWriteTx(trx)));
}

function versionRow(datasetId: string, number: number, over: Partial<NewDatasetVersion> = {}): NewDatasetVersion {
  return {
    id: `${datasetId}-v${number}`,
    dataset_id: datasetId,
    number,
    digest: hex(`${datasetId}/${number}`),
    parent_id: number > 1 ? `${datasetId}-v${number - 1}` : null,
    message: `version ${number}`,
    author: 'alice@example.com',
    created_at: `2026-01-0${number}T00:00:00.000Z`,
    file_count: number * 10,
    total_bytes: number * 1000,
    new_bytes: 100,
    stats: '{"rows":1}',
    ...over,
  };
}

function eventRow(idx: number, over: Partial<AuditEventRow> = {}): AuditEventRow {
  return {
    idx,
    event_id: `ev-${idx}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, idx)).toISOString(),
    actor: 'alice@example.com',
    action: 'dataset.version.create',
    target_type: 'dataset',
    target_name: 'flights',
    outcome: 'ok',
    leaf_hash: hex(`leaf ${idx}`),
    entry: `{"index":${idx}}`,
    ...over,
  };
}

/**
 * The metadata conformance suite: every case runs against every backend (SQLite and
 * PostgreSQL), so the repositories may rely only on behaviour both engines share.
 */
export function metaConformance(name: string, factory: MetaFactory): void {
  describe(`metadata conformance: ${name}`, () => {
    let t: MetaUnderTest;
    let db: Kysely<Database>;

    beforeEach(async () => {
      t = await factory();
      db = t.db;
    });

    afterEach(async () => {
      await t.destroy();
    });

    async function seedDataset(id: string, nameOf = id): Promise<void> {
      await write(db, (tx) =>
        datasets.createDataset(tx, {
          id,
          name: nameOf,
          created_at: '2026-01-01T00:00:00.000Z',
          created_by: 'alice@example.com',
        }),
      );
    }

    describe('migrations', () => {
      it('create every table on open', async () => {
        // Only this store's schema: other test files' PostgreSQL schemas may exist meanwhile.
        const own =
          t.dialect === 'postgres'
            ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s
            : undefined;
        const tables = (await db.introspection.getTables())
          .filter((x) => own === undefined || x.schema === own)
          .map((x) => x.name)
          .filter((n) => !n.startsWith('kysely_'))
          .sort();
        expect(tables).toEqual([
          'api_tokens',
          'audit_checkpoints',
          'audit_events',
          'audit_head',
          'audit_nodes',
          'blobs',
          'browser_sessions',
          'dataset_tags',
          'dataset_versions',
          'datasets',
          'deployments',
          'documents',
          'evaluation_imports',
          'idempotency_keys',
          'identity_generation',
          'lineage_edges',
          'model_alias_events',
          'model_aliases',
          'model_approvals',
          'model_evaluations',
          'model_policies',
          'model_versions',
          'models',
          'outbox',
          'packs',
          'principals',
          'projects',
          'reports',
          'role_grants',
          'run_imports',
          'run_metric_blocks',
          'run_metric_summaries',
          'run_metrics',
          'run_params',
          'runs',
          'store_locks',
          'upload_plans',
          'version_erasures',
          'version_holds',
        ]);
      });

      it('are idempotent: reopening keeps the data and records each migration once', async () => {
        await seedDataset('d1', 'flights');
        await t.close();
        const again = await t.reopen();
        try {
          expect((await datasets.findDataset(again.db, 'flights'))?.id).toBe('d1');
          const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
            again.db,
          );
          expect(applied.rows.map((r) => r.name)).toEqual([
            '0001-initial',
            '0002-dataprep',
            '0003-compute',
            '0004-models',
            '0005-deploy',
            '0006-metric-summaries',
            '0007-server',
            '0008-runs',
            '0009-identity-generation',
            '0010-retention',
            '0011-metric-blocks',
            '0012-server-sessions',
            '0014-store-locks',
            '0015-run-imports',
            '0016-evaluation-imports',
            '0017-browser-session-generation',
            '0018-row-macs',
          ]);
        } finally {
          await again.close();
        }
        // And a third open, while nothing else is open, still finds nothing to do.
        const third = await t.reopen();
        expect((await datasets.listDatasets(third.db)).map((d) => d.name)).toEqual(['flights']);
        await third.close();
      });
    });

    describe('transactions', () => {
      it('roll back every write of a failed transaction', async () => {
        await seedDataset('d1', 'flights');
        const attempt = write(db, async (tx) => {
          await datasets.createDataset(tx, { id: 'd2', name: 'weather', created_at: 'now', created_by: 'a' });
          // Same name again: the unique constraint fails, so d2 must vanish too.
          await datasets.createDataset(tx, { id: 'd3', name: 'flights', created_at: 'now', created_by: 'a' });
        });
        await expect(attempt).rejects.toThrow();
        expect((await datasets.listDatasets(db)).map((d) => d.name)).toEqual(['flights']);
      });

      it('enforce foreign keys: a version of an unknown dataset is refused', async () => {
        await expect(write(db, (tx) => datasets.insertVersion(tx, versionRow('nope', 1)))).rejects.toThrow();
        expect(await datasets.versionById(db, 'nope-v1')).toBeUndefined();
      });
    });

    describe('datasets', () => {
      it('create, find by name, and refuse a duplicate name', async () => {
        expect(await datasets.findDataset(db, 'flights')).toBeUndefined();
        await seedDataset('d1', 'flights');
        await seedDataset('d2', 'flights/train');
        expect(await datasets.findDataset(db, 'flights')).toEqual({
          id: 'd1',
          name: 'flights',
          created_at: '2026-01-01T00:00:00.000Z',
          created_by: 'alice@example.com',
        });
        expect((await datasets.findDataset(db, 'flights/train'))?.id).toBe('d2');
        await expect(seedDataset('d3', 'flights')).rejects.toThrow();
      });

      it('number versions per dataset, starting at 1', async () => {
        await seedDataset('a');
        await seedDataset('b');
        expect(await write(db, (tx) => datasets.nextVersionNumber(tx, 'a'))).toBe(1);
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('a', 1)));
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('a', 2)));
        expect(await write(db, (tx) => datasets.nextVersionNumber(tx, 'a'))).toBe(3);
        expect(await write(db, (tx) => datasets.nextVersionNumber(tx, 'b'))).toBe(1);
        // The (dataset, number) pair is unique.
        await expect(
          write(db, (tx) => datasets.insertVersion(tx, versionRow('a', 2, { id: 'other' }))),
        ).rejects.toThrow();
      });

      it('read versions back by number, id, latest and in descending order', async () => {
        await seedDataset('a');
        for (const n of [1, 2, 3]) await write(db, (tx) => datasets.insertVersion(tx, versionRow('a', n)));
        expect(await datasets.versionByNumber(db, 'a', 2)).toEqual({ ...versionRow('a', 2) });
        expect(await datasets.versionByNumber(db, 'a', 9)).toBeUndefined();
        expect((await datasets.versionById(db, 'a-v3'))?.number).toBe(3);
        expect((await datasets.latestVersion(db, 'a'))?.id).toBe('a-v3');
        expect(await datasets.latestVersion(db, 'zzz')).toBeUndefined();
        expect((await datasets.versionsOf(db, 'a')).map((v) => v.number)).toEqual([3, 2, 1]);
      });

      it('list datasets by name with their latest version, and zeros for empty ones', async () => {
        await seedDataset('w', 'weather');
        await seedDataset('f', 'flights');
        await seedDataset('e', 'empty');
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('f', 1)));
        await write(db, (tx) =>
          datasets.insertVersion(tx, versionRow('f', 2, { total_bytes: 5 * GIB, file_count: 123456 })),
        );
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('w', 1)));
        const list = await datasets.listDatasets(db);
        expect(list).toEqual([
          {
            name: 'empty',
            created_at: '2026-01-01T00:00:00.000Z',
            versions: 0,
            latest_number: null,
            latest_digest: null,
            latest_created_at: null,
            latest_total_bytes: null,
            latest_file_count: null,
          },
          {
            name: 'flights',
            created_at: '2026-01-01T00:00:00.000Z',
            versions: 2,
            latest_number: 2,
            latest_digest: hex('f/2'),
            latest_created_at: '2026-01-02T00:00:00.000Z',
            latest_total_bytes: 5 * GIB,
            latest_file_count: 123456,
          },
          {
            name: 'weather',
            created_at: '2026-01-01T00:00:00.000Z',
            versions: 1,
            latest_number: 1,
            latest_digest: hex('w/1'),
            latest_created_at: '2026-01-01T00:00:00.000Z',
            latest_total_bytes: 1000,
            latest_file_count: 10,
          },
        ]);
      });

      it('return bigint columns as exact JS numbers (a 5 GiB version)', async () => {
        await seedDataset('a');
        await write(db, (tx) =>
          datasets.insertVersion(
            tx,
            versionRow('a', 1, { total_bytes: 5 * GIB, new_bytes: 2 ** 52 + 1, file_count: 3_000_000_000 }),
          ),
        );
        const v = (await datasets.versionByNumber(db, 'a', 1))!;
        expect(typeof v.total_bytes).toBe('number');
        expect(typeof v.new_bytes).toBe('number');
        expect(typeof v.file_count).toBe('number');
        expect(typeof v.number).toBe('number');
        expect(v.total_bytes).toBe(5 * GIB);
        expect(v.new_bytes).toBe(2 ** 52 + 1);
        expect(v.file_count).toBe(3_000_000_000);
      });

      it('find versions by digest prefix within one dataset, in number order', async () => {
        await seedDataset('a');
        await seedDataset('b');
        const d1 = 'ab12' + '0'.repeat(60);
        const d2 = 'ab34' + 'f'.repeat(60);
        const d3 = 'abff' + '1'.repeat(60);
        const d4 = 'ac00' + '2'.repeat(60);
        for (const [n, digest] of [
          [1, d2],
          [2, d1],
          [3, d3],
          [4, d4],
        ] as const)
          await write(db, (tx) => datasets.insertVersion(tx, versionRow('a', n, { digest })));
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('b', 1, { digest: d1 })));
        const nums = async (prefix: string) =>
          (await datasets.versionsByDigestPrefix(db, 'a', prefix)).map((v) => v.number);
        expect(await nums('ab')).toEqual([1, 2, 3]);
        expect(await nums('ab1')).toEqual([2]);
        expect(await nums('abf')).toEqual([3]);
        expect(await nums('abff' + '1'.repeat(60))).toEqual([3]);
        expect(await nums('a')).toEqual([1, 2, 3, 4]);
        expect(await nums('ad')).toEqual([]);
        expect(await nums('0')).toEqual([]);
        expect((await datasets.versionsByDigestPrefix(db, 'b', 'ab')).map((v) => v.id)).toEqual(['b-v1']);
      });

      it('list every version digest by dataset name and number', async () => {
        await seedDataset('w', 'weather');
        await seedDataset('f', 'flights');
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('w', 1)));
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('f', 2)));
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('f', 1)));
        expect(await datasets.allVersionDigests(db)).toEqual([
          { id: 'f-v1', digest: hex('f/1'), name: 'flights', number: 1 },
          { id: 'f-v2', digest: hex('f/2'), name: 'flights', number: 2 },
          { id: 'w-v1', digest: hex('w/1'), name: 'weather', number: 1 },
        ]);
      });

      it('set, find, list and move tags', async () => {
        await seedDataset('a');
        await seedDataset('b');
        for (const n of [1, 2]) await write(db, (tx) => datasets.insertVersion(tx, versionRow('a', n)));
        await write(db, (tx) => datasets.insertVersion(tx, versionRow('b', 1)));
        await write(db, (tx) =>
          datasets.setTag(tx, {
            dataset_id: 'a',
            tag: 'stable',
            version_id: 'a-v1',
            created_at: 't1',
            created_by: 'alice',
          }),
        );
        await write(db, (tx) =>
          datasets.setTag(tx, {
            dataset_id: 'a',
            tag: 'prod',
            version_id: 'a-v1',
            created_at: 't1',
            created_by: 'alice',
          }),
        );
        // The same tag name on another dataset is independent.
        await write(db, (tx) =>
          datasets.setTag(tx, {
            dataset_id: 'b',
            tag: 'stable',
            version_id: 'b-v1',
            created_at: 't1',
            created_by: 'alice',
          }),
        );
        expect(await datasets.findTag(db, 'a', 'stable')).toEqual({ version_id: 'a-v1' });
        expect(await datasets.findTag(db, 'a', 'nope')).toBeUndefined();
        // Moving a tag replaces its row (with the mover and time), never duplicates it.
        await write(db, (tx) =>
          datasets.setTag(tx, {
            dataset_id: 'a',
            tag: 'stable',
            version_id: 'a-v2',
            created_at: 't2',
            created_by: 'bob',
          }),
        );
        expect(await datasets.findTag(db, 'a', 'stable')).toEqual({ version_id: 'a-v2' });
        expect(await datasets.tagsOf(db, 'a')).toEqual([
          { tag: 'prod', version_id: 'a-v1', created_at: 't1', created_by: 'alice' },
          { tag: 'stable', version_id: 'a-v2', created_at: 't2', created_by: 'bob' },
        ]);
        expect(await datasets.findTag(db, 'b', 'stable')).toEqual({ version_id: 'b-v1' });
      });
    });

    describe('chunk index', () => {
      const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => hex(`${prefix}${i}`));

      it('record packs and their blobs; the first writer of a blob id keeps its location', async () => {
        const [x, y, z] = ids('b', 3) as [string, string, string];
        await write(db, (tx) =>
          chunks.recordPacks(
            tx,
            [
              {
                id: 'pa',
                size: 300,
                entries: [
                  { id: x, offset: 16, length: 10, kind: 1 },
                  { id: y, offset: 26, length: 20, kind: 1 },
                ],
              },
            ],
            't1',
          ),
        );
        // A second transaction stores y again, in another pack, plus z.
        await write(db, (tx) =>
          chunks.recordPacks(
            tx,
            [
              {
                id: 'pb',
                size: 400,
                entries: [
                  { id: y, offset: 16, length: 20, kind: 1 },
                  { id: z, offset: 36, length: 5, kind: 2 },
                ],
              },
            ],
            't2',
          ),
        );
        // And the same pack recorded twice (a retried commit) is harmless.
        await write(db, (tx) =>
          chunks.recordPacks(
            tx,
            [{ id: 'pa', size: 300, entries: [{ id: x, offset: 16, length: 10, kind: 1 }] }],
            't3',
          ),
        );
        expect(await chunks.listPacks(db)).toEqual([
          { id: 'pa', size: 300, blob_count: 2 },
          { id: 'pb', size: 400, blob_count: 2 },
        ]);
        const located = await chunks.blobsLocate(db, [x, y, z]);
        expect(located.get(y)).toEqual({ id: y, pack_id: 'pa', offset: 26, length: 20, kind: 1 });
        expect(located.get(z)).toEqual({ id: z, pack_id: 'pb', offset: 36, length: 5, kind: 2 });
        expect((await chunks.allBlobs(db)).map((b) => b.id).sort()).toEqual([x, y, z].sort());
      });

      it('answer presence and location queries of more than one batch (>500 ids)', async () => {
        const stored = ids('s', 1200);
        const absent = ids('a', 300);
        await write(db, (tx) =>
          chunks.recordPacks(
            tx,
            [
              {
                id: 'p1',
                size: 10 * GIB,
                entries: stored.slice(0, 700).map((id, i) => ({ id, offset: 16 + i * 100, length: 100, kind: 1 })),
              },
              // Offsets beyond 4 GiB must survive the round trip as exact numbers.
              {
                id: 'p2',
                size: 10 * GIB,
                entries: stored.slice(700).map((id, i) => ({ id, offset: 5 * GIB + i, length: 1, kind: 1 })),
              },
            ],
            't',
          ),
        );
        const query = [...absent.slice(0, 150), ...stored, ...absent.slice(150)];
        const present = await chunks.blobsPresent(db, query);
        expect(present).toEqual(new Set(stored));
        const located = await chunks.blobsLocate(db, query);
        expect(located.size).toBe(1200);
        expect(located.get(stored[699]!)).toEqual({
          id: stored[699],
          pack_id: 'p1',
          offset: 16 + 699 * 100,
          length: 100,
          kind: 1,
        });
        expect(located.get(stored[1199]!)).toEqual({
          id: stored[1199],
          pack_id: 'p2',
          offset: 5 * GIB + 499,
          length: 1,
          kind: 1,
        });
        expect(typeof located.get(stored[1199]!)!.offset).toBe('number');
        expect((await chunks.listPacks(db)).map((p) => p.size)).toEqual([10 * GIB, 10 * GIB]);
        expect(await chunks.blobsPresent(db, [])).toEqual(new Set());
        expect(await chunks.blobsLocate(db, [])).toEqual(new Map());
      });

      it('move blobs to another pack, then delete packs with their remaining blobs', async () => {
        const [x, y, z] = ids('m', 3) as [string, string, string];
        await write(db, (tx) =>
          chunks.recordPacks(
            tx,
            [
              {
                id: 'old',
                size: 100,
                entries: [
                  { id: x, offset: 16, length: 4, kind: 1 },
                  { id: y, offset: 20, length: 4, kind: 1 },
                ],
              },
              { id: 'new', size: 100, entries: [{ id: z, offset: 16, length: 4, kind: 1 }] },
            ],
            't',
          ),
        );
        // gc copied y into 'new' and re-points it before dropping 'old'.
        await write(db, (tx) => chunks.moveBlobs(tx, [{ id: y, pack_id: 'new', offset: 20, length: 4, kind: 1 }]));
        await write(db, (tx) => chunks.deletePacks(tx, ['old']));
        expect(await chunks.listPacks(db)).toEqual([{ id: 'new', size: 100, blob_count: 1 }]);
        expect(await chunks.blobsPresent(db, [x, y, z])).toEqual(new Set([y, z]));
        expect((await chunks.blobsLocate(db, [y])).get(y)).toEqual({
          id: y,
          pack_id: 'new',
          offset: 20,
          length: 4,
          kind: 1,
        });
      });

      it('delete more than one batch of packs at once', async () => {
        const packs = Array.from({ length: 510 }, (_, i) => ({
          id: `p${String(i).padStart(4, '0')}`,
          size: 10,
          entries: [{ id: hex(`d${i}`), offset: 16, length: 1, kind: 1 }],
        }));
        await write(db, (tx) => chunks.recordPacks(tx, packs, 't'));
        await write(db, (tx) =>
          chunks.deletePacks(
            tx,
            packs.slice(0, 505).map((p) => p.id),
          ),
        );
        expect((await chunks.listPacks(db)).map((p) => p.id)).toEqual(['p0505', 'p0506', 'p0507', 'p0508', 'p0509']);
        expect((await chunks.allBlobs(db)).length).toBe(5);
      });
    });

    describe('lineage', () => {
      function edge(id: string, over: Partial<LineageEdgeRow>): LineageEdgeRow {
        return {
          id,
          src_type: 'dataset_version',
          src_id: 'v1',
          dst_type: 'dataset_version',
          dst_id: 'v2',
          relation: 'derived',
          via_type: null,
          via_id: null,
          created_at: '2026-01-01T00:00:00.000Z',
          ...over,
        };
      }

      it('answer edges into and from a node, by type and id, oldest first', async () => {
        await write(db, (tx) => lineage.addEdges(tx, []));
        const e1 = edge('e1', { created_at: '2026-01-02T00:00:00.000Z', via_type: 'recipe', via_id: 'r1' });
        const e2 = edge('e2', { src_id: 'v0', created_at: '2026-01-01T00:00:00.000Z' });
        const e3 = edge('e3', { src_type: 'run', src_id: 'v1', dst_id: 'v3' }); // same id, other type
        const e4 = edge('e4', { dst_id: 'v4', created_at: '2026-01-03T00:00:00.000Z' });
        await write(db, (tx) => lineage.addEdges(tx, [e1, e2, e3, e4]));
        expect(await lineage.edgesInto(db, 'dataset_version', 'v2')).toEqual([e2, e1]);
        expect(await lineage.edgesFrom(db, 'dataset_version', 'v1')).toEqual([e1, e4]);
        expect(await lineage.edgesFrom(db, 'run', 'v1')).toEqual([e3]);
        expect(await lineage.edgesInto(db, 'model_version', 'v2')).toEqual([]);
      });
    });

    describe('audit', () => {
      it('readHead reports an empty log without creating the head row; lockHead creates it once', async () => {
        const empty = { size: 0, lastLeaf: null, frontier: '{"size":0,"hashes":[]}' };
        expect(await audit.readHead(db)).toEqual(empty);
        expect(await db.selectFrom('audit_head').selectAll().execute()).toEqual([]);
        expect(await write(db, (tx) => audit.lockHead(tx, t.dialect))).toEqual(empty);
        expect(await write(db, (tx) => audit.lockHead(tx, t.dialect))).toEqual(empty);
        expect((await db.selectFrom('audit_head').selectAll().execute()).length).toBe(1);
      });

      it('lockHead serializes concurrent writers, so version numbers come out distinct and consecutive', async () => {
        await seedDataset('a');
        // Each writer reads max(number) after taking the head lock; without the lock two of them
        // (PostgreSQL runs them on separate pooled connections) would pick the same number.
        const writers = Array.from({ length: 6 }, (_, i) =>
          write(db, async (tx) => {
            const head = await audit.lockHead(tx, t.dialect);
            const n = await datasets.nextVersionNumber(tx, 'a');
            await datasets.insertVersion(tx, versionRow('a', n, { id: `w${i}` }));
            await audit.writeHead(tx, { ...head, size: head.size + 1 });
            return n;
          }),
        );
        expect((await Promise.all(writers)).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await audit.readHead(db)).size).toBe(6);
      });

      it('writeHead and readHead round-trip, with the size as a number', async () => {
        const head = { size: 2 ** 40 + 3, lastLeaf: hex('leaf'), frontier: '{"size":3,"hashes":["ab"]}' };
        await write(db, async (tx) => {
          await audit.lockHead(tx, t.dialect);
          await audit.writeHead(tx, head);
        });
        expect(await audit.readHead(db)).toEqual(head);
        expect(await write(db, (tx) => audit.lockHead(tx, t.dialect))).toEqual(head);
      });

      describe('events', () => {
        // 450 events cross insertEvents' 200-row batches; actions and outcomes vary by index.
        const actions = [
          'dataset.version.create',
          'dataset.tag',
          'store.gc',
          'workspace.init',
          'datasets.other',
        ] as const;
        const rows = Array.from({ length: 450 }, (_, i) =>
          eventRow(i, {
            action: actions[i % 5]!,
            actor: i % 2 ? 'bob@example.com' : 'alice@example.com',
            outcome: i % 7 === 0 ? 'failed' : 'ok',
            target_type: i % 3 ? 'dataset' : 'store',
            target_name: i % 3 ? `ds${i % 4}` : null,
          }),
        );
        const idx = (list: AuditEventRow[]) => list.map((r) => r.idx);
        const expectIdx = (pred: (r: AuditEventRow) => boolean) => rows.filter(pred).map((r) => r.idx);

        beforeEach(async () => {
          await write(db, (tx) => audit.insertEvents(tx, rows));
        });

        it('store rows exactly and read them back by index', async () => {
          expect(await audit.eventByIndex(db, 123)).toEqual(rows[123]);
          expect(await audit.eventByIndex(db, 450)).toBeUndefined();
          const all = await audit.queryEvents(db, {});
          expect(all).toEqual(rows);
          expect(typeof all[0]!.idx).toBe('number');
        });

        it('refuse a duplicate index or event id', async () => {
          await expect(
            write(db, (tx) => audit.insertEvents(tx, [eventRow(5, { event_id: 'fresh' })])),
          ).rejects.toThrow();
          await expect(
            write(db, (tx) => audit.insertEvents(tx, [eventRow(999, { event_id: 'ev-5' })])),
          ).rejects.toThrow();
        });

        it('filter by actor, exact action, target and outcome, combined with AND', async () => {
          expect(idx(await audit.queryEvents(db, { actor: 'bob@example.com' }))).toEqual(
            expectIdx((r) => r.actor === 'bob@example.com'),
          );
          expect(idx(await audit.queryEvents(db, { action: 'dataset.tag' }))).toEqual(
            expectIdx((r) => r.action === 'dataset.tag'),
          );
          expect(idx(await audit.queryEvents(db, { targetType: 'store' }))).toEqual(
            expectIdx((r) => r.target_type === 'store'),
          );
          expect(idx(await audit.queryEvents(db, { targetName: 'ds1', outcome: 'failed' }))).toEqual(
            expectIdx((r) => r.target_name === 'ds1' && r.outcome === 'failed'),
          );
          expect(idx(await audit.queryEvents(db, { action: 'dataset' }))).toEqual([]);
        });

        it('treat a trailing * as a literal, case-sensitive prefix (dataset.*)', async () => {
          expect(idx(await audit.queryEvents(db, { action: 'dataset.*' }))).toEqual(
            expectIdx((r) => r.action.startsWith('dataset.')),
          );
          // 'datasets.other' shares the letters but not the dot.
          expect(idx(await audit.queryEvents(db, { action: 'dataset*' }))).toEqual(
            expectIdx((r) => r.action.startsWith('dataset')),
          );
          expect(idx(await audit.queryEvents(db, { action: 'dataset.version.*' }))).toEqual(
            expectIdx((r) => r.action === 'dataset.version.create'),
          );
          // Both engines must agree: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
          expect(idx(await audit.queryEvents(db, { action: 'DATASET.*' }))).toEqual([]);
          // '_' and '%' are ordinary characters in a prefix, not wildcards.
          expect(idx(await audit.queryEvents(db, { action: 'dataset_tag*' }))).toEqual([]);
          expect(idx(await audit.queryEvents(db, { action: '%.gc*' }))).toEqual([]);
        });

        it('bound time with since inclusive and until exclusive', async () => {
          const since = rows[100]!.time;
          const until = rows[110]!.time;
          expect(idx(await audit.queryEvents(db, { since, until }))).toEqual(
            Array.from({ length: 10 }, (_, i) => 100 + i),
          );
          expect(idx(await audit.queryEvents(db, { since: rows[449]!.time }))).toEqual([449]);
          expect(idx(await audit.queryEvents(db, { until: rows[0]!.time }))).toEqual([]);
        });

        it('limit and order newest first', async () => {
          expect(idx(await audit.queryEvents(db, { limit: 3 }))).toEqual([0, 1, 2]);
          expect(idx(await audit.queryEvents(db, { limit: 3, desc: true }))).toEqual([449, 448, 447]);
          expect(idx(await audit.queryEvents(db, { action: 'store.gc', limit: 2, desc: true }))).toEqual([447, 442]);
        });

        it('answer tree nodes: level 0 from the events’ leaf hashes, higher levels from audit_nodes', async () => {
          const nodes = Array.from({ length: 700 }, (_, i) => ({
            level: 1 + (i % 3),
            idx: Math.floor(i / 3),
            hash: hex(`node ${i}`),
          }));
          await write(db, (tx) => audit.insertNodes(tx, nodes));
          const leafKeys = Array.from({ length: 600 }, (_, i) => ({ level: 0, idx: i })); // 450..599 do not exist
          const got = await audit.getNodes(db, [
            ...leafKeys,
            { level: 1, idx: 0 },
            { level: 3, idx: 232 },
            { level: 2, idx: 9999 },
          ]);
          expect(got.size).toBe(450 + 2);
          expect(got.get('0:0')).toBe(rows[0]!.leaf_hash);
          expect(got.get('0:449')).toBe(rows[449]!.leaf_hash);
          expect(got.has('0:450')).toBe(false);
          expect(got.get('1:0')).toBe(hex('node 0'));
          expect(got.get('3:232')).toBe(hex('node 698'));
          expect(got.has('2:9999')).toBe(false);
          // A node key is stored once.
          await expect(
            write(db, (tx) => audit.insertNodes(tx, [{ level: 1, idx: 0, hash: hex('again') }])),
          ).rejects.toThrow();
        });
      });

      it('keep checkpoints: first write per size wins; latest, all and covering', async () => {
        const cp = (size: number, tag = '') => ({
          size,
          root: hex(`root ${size}${tag}`),
          note: `note ${size}${tag}`,
          created_at: `2026-01-01T00:00:${String(size).padStart(2, '0')}.000Z`,
        });
        expect(await audit.latestCheckpoint(db)).toBeUndefined();
        expect(await audit.allCheckpoints(db)).toEqual([]);
        for (const size of [7, 3, 12]) await write(db, (tx) => audit.insertCheckpoint(tx, cp(size)));
        await write(db, (tx) => audit.insertCheckpoint(tx, cp(7, ' retry')));
        expect(await audit.latestCheckpoint(db)).toEqual(cp(12));
        expect(await audit.allCheckpoints(db)).toEqual([cp(3), cp(7), cp(12)]);
        // Covering index i means size > i; the newest such checkpoint is returned.
        expect(await audit.checkpointCovering(db, 0)).toEqual(cp(12));
        expect(await audit.checkpointCovering(db, 6)).toEqual(cp(12));
        expect(await audit.checkpointCovering(db, 11)).toEqual(cp(12));
        expect(await audit.checkpointCovering(db, 12)).toBeUndefined();
        expect(typeof (await audit.latestCheckpoint(db))!.size).toBe('number');
      });
    });
  });
}
