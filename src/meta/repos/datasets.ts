import type { DatasetRow, DatasetVersionRow, NewDatasetVersion } from '../schema.js';
import type { WriteTx } from '../write-tx.js';
import type { ReadDb } from '../read-db.js';
import { compiledRead } from '../compiled-read.js';

export async function findDataset(db: ReadDb, name: string): Promise<DatasetRow | undefined> {
  return db.selectFrom('datasets').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function createDataset(tx: WriteTx, row: DatasetRow): Promise<void> {
  await tx.db.insertInto('datasets').values(row).execute();
}

export interface DatasetSummary {
  name: string;
  created_at: string;
  versions: number;
  latest_number: number | null;
  latest_digest: string | null;
  latest_created_at: string | null;
  latest_total_bytes: number | null;
  latest_file_count: number | null;
}

// One statement (a team server answers `data ls` with one round trip to its database), compiled once.
const datasetsWithLatest = compiledRead((db: ReadDb) =>
  db
    .selectFrom('datasets as d')
    .leftJoin(
      (eb) =>
        eb
          .selectFrom('dataset_versions')
          .select(['dataset_id'])
          .select((e) => e.fn.max('number').as('max_number'))
          .groupBy('dataset_id')
          .as('m'),
      (join) => join.onRef('m.dataset_id', '=', 'd.id'),
    )
    .leftJoin('dataset_versions as v', (join) =>
      join.onRef('v.dataset_id', '=', 'd.id').onRef('v.number', '=', 'm.max_number'),
    )
    .select([
      'd.name',
      'd.created_at',
      'v.number',
      'v.digest',
      'v.created_at as latest_created_at',
      'v.total_bytes',
      'v.file_count',
    ])
    .orderBy('d.name'),
);

export async function listDatasets(db: ReadDb): Promise<DatasetSummary[]> {
  const rows = await datasetsWithLatest(db);
  return rows.map((r) => {
    const has = r.number !== null;
    return {
      name: r.name,
      created_at: r.created_at,
      versions: has ? Number(r.number) : 0,
      latest_number: has ? Number(r.number) : null,
      latest_digest: r.digest ?? null,
      latest_created_at: r.latest_created_at ?? null,
      latest_total_bytes: has ? Number(r.total_bytes) : null,
      latest_file_count: has ? Number(r.file_count) : null,
    };
  });
}

export async function latestVersion(db: ReadDb, datasetId: string): Promise<DatasetVersionRow | undefined> {
  return db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('dataset_id', '=', datasetId)
    .orderBy('number', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function versionByNumber(
  db: ReadDb,
  datasetId: string,
  n: number,
): Promise<DatasetVersionRow | undefined> {
  return db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('dataset_id', '=', datasetId)
    .where('number', '=', n)
    .executeTakeFirst();
}

export async function versionById(db: ReadDb, id: string): Promise<DatasetVersionRow | undefined> {
  return db.selectFrom('dataset_versions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function versionsByDigestPrefix(
  db: ReadDb,
  datasetId: string,
  prefix: string,
): Promise<DatasetVersionRow[]> {
  return db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('dataset_id', '=', datasetId)
    .where('digest', '>=', prefix)
    .where('digest', '<', prefix + 'g')
    .orderBy('number')
    .execute();
}

export async function versionsOf(db: ReadDb, datasetId: string): Promise<DatasetVersionRow[]> {
  return db
    .selectFrom('dataset_versions')
    .selectAll()
    .where('dataset_id', '=', datasetId)
    .orderBy('number', 'desc')
    .execute();
}

export async function allVersionDigests(
  db: ReadDb,
): Promise<Array<{ id: string; digest: string; name: string; number: number }>> {
  return db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id', 'v.digest', 'd.name', 'v.number'])
    .orderBy('d.name')
    .orderBy('v.number')
    .execute();
}

export async function nextVersionNumber(tx: WriteTx, datasetId: string): Promise<number> {
  const r = await tx.db
    .selectFrom('dataset_versions')
    .select((e) => e.fn.max('number').as('n'))
    .where('dataset_id', '=', datasetId)
    .executeTakeFirst();
  return Number(r?.n ?? 0) + 1;
}

export async function insertVersion(tx: WriteTx, row: NewDatasetVersion): Promise<void> {
  await tx.db.insertInto('dataset_versions').values(row).execute();
}

export async function tagsOf(
  db: ReadDb,
  datasetId: string,
): Promise<Array<{ tag: string; version_id: string; created_at: string; created_by: string }>> {
  return db
    .selectFrom('dataset_tags')
    .select(['tag', 'version_id', 'created_at', 'created_by'])
    .where('dataset_id', '=', datasetId)
    .orderBy('tag')
    .execute();
}

export async function findTag(db: ReadDb, datasetId: string, tag: string): Promise<{ version_id: string } | undefined> {
  return db
    .selectFrom('dataset_tags')
    .select('version_id')
    .where('dataset_id', '=', datasetId)
    .where('tag', '=', tag)
    .executeTakeFirst();
}

export async function setTag(
  tx: WriteTx,
  row: { dataset_id: string; tag: string; version_id: string; created_at: string; created_by: string },
): Promise<void> {
  // One statement (it was a delete and an insert): the tag's row, created or moved.
  await tx.db
    .insertInto('dataset_tags')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['dataset_id', 'tag'])
        .doUpdateSet({ version_id: row.version_id, created_at: row.created_at, created_by: row.created_by }),
    )
    .execute();
}
