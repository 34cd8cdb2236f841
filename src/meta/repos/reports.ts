import type { ReportsTable } from '../schema.js';
import type { WriteTx } from '../write-tx.js';
import type { ReadDb } from '../read-db.js';

export async function insertReport(tx: WriteTx, row: ReportsTable): Promise<void> {
  await tx.db.insertInto('reports').values(row).execute();
}

/** The newest report of a kind for a version. */
export async function latestReport(db: ReadDb, versionId: string, kind: string): Promise<ReportsTable | undefined> {
  return db
    .selectFrom('reports')
    .selectAll()
    .where('version_id', '=', versionId)
    .where('kind', '=', kind)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function reportsOf(db: ReadDb, versionId: string): Promise<Array<Omit<ReportsTable, 'body'>>> {
  return db
    .selectFrom('reports')
    .select(['id', 'version_id', 'kind', 'digest', 'created_at', 'created_by', 'summary'])
    .where('version_id', '=', versionId)
    .orderBy('created_at')
    .execute();
}

/** Stores a suite or recipe by digest (idempotent). */
export async function putDocument(
  tx: WriteTx,
  row: { digest: string; kind: string; name: string; body: string; created_at: string },
): Promise<void> {
  await tx.db
    .insertInto('documents')
    .values(row)
    .onConflict((oc) => oc.column('digest').doNothing())
    .execute();
}

export async function getDocument(
  db: ReadDb,
  digest: string,
): Promise<{ digest: string; kind: string; name: string; body: string } | undefined> {
  return db
    .selectFrom('documents')
    .select(['digest', 'kind', 'name', 'body'])
    .where('digest', '=', digest)
    .executeTakeFirst();
}
