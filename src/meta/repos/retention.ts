import type { ReadDb } from '../read-db.js';
import type { VersionErasuresTable, VersionHoldsTable } from '../schema.js';
import type { WriteTx } from '../write-tx.js';

export async function insertHold(tx: WriteTx, row: VersionHoldsTable): Promise<void> {
  await tx.db.insertInto('version_holds').values(row).execute();
}

export async function markHoldReleased(
  tx: WriteTx,
  id: string,
  by: { at: string; by: string; reason: string },
): Promise<void> {
  await tx.db
    .updateTable('version_holds')
    .set({ released_at: by.at, released_by: by.by, release_reason: by.reason })
    .where('id', '=', id)
    .execute();
}

/** Every hold and retention period of the given versions (released ones too), oldest first. */
export async function holdsOf(db: ReadDb, versionIds: readonly string[]): Promise<VersionHoldsTable[]> {
  if (versionIds.length === 0) return [];
  return db
    .selectFrom('version_holds')
    .selectAll()
    .where('version_id', 'in', [...versionIds])
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function allHolds(db: ReadDb): Promise<VersionHoldsTable[]> {
  return db.selectFrom('version_holds').selectAll().orderBy('created_at').orderBy('id').execute();
}

export async function insertErasure(tx: WriteTx, row: VersionErasuresTable): Promise<void> {
  await tx.db
    .insertInto('version_erasures')
    .values(row)
    .onConflict((oc) => oc.column('version_id').doNothing())
    .execute();
}

/** The erasure of the version with this root digest (bare hex), if its bytes were erased. */
export async function erasureOfDigest(db: ReadDb, digest: string): Promise<VersionErasuresTable | undefined> {
  return db.selectFrom('version_erasures').selectAll().where('digest', '=', digest).limit(1).executeTakeFirst();
}

export async function allErasures(db: ReadDb): Promise<VersionErasuresTable[]> {
  return db.selectFrom('version_erasures').selectAll().orderBy('erased_at').execute();
}
