import type { Kysely } from 'kysely';
import { bulkInsertIgnore } from './bulk.js';
import type { WriteTx } from '../write-tx.js';
import type { ReadDb } from '../read-db.js';

const BATCH = 500;

export interface PackRecord {
  id: string;
  size: number;
  entries: Array<{ id: string; offset: number; length: number; kind: number }>;
}

export interface BlobRow {
  id: string;
  pack_id: string;
  offset: number;
  length: number;
  kind: number;
}

export async function blobsPresent(db: ReadDb, ids: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += BATCH) {
    const rows = await db
      .selectFrom('blobs')
      .select('id')
      .where('id', 'in', ids.slice(i, i + BATCH))
      .execute();
    for (const r of rows) out.add(r.id);
  }
  return out;
}

export async function blobsLocate(db: ReadDb, ids: readonly string[]): Promise<Map<string, BlobRow>> {
  const out = new Map<string, BlobRow>();
  for (let i = 0; i < ids.length; i += BATCH) {
    const rows = await db
      .selectFrom('blobs')
      .selectAll()
      .where('id', 'in', ids.slice(i, i + BATCH))
      .execute();
    for (const r of rows) out.set(r.id, r);
  }
  return out;
}

/**
 * Records sealed packs and their blobs. A blob another writer committed first keeps its
 * existing location (first writer wins); the duplicate bytes are left for `gc` to reclaim.
 */
export async function recordPacks(tx: WriteTx, packs: readonly PackRecord[], createdAt: string): Promise<void> {
  for (const p of packs) {
    await tx.db
      .insertInto('packs')
      .values({ id: p.id, size: p.size, blob_count: p.entries.length, created_at: createdAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    // In id order: the primary key's B-tree then takes the rows as runs of neighbours instead of
    // at random pages (half the CPU of recording 10^5 new blobs in SQLite; issue 16).
    const rows = p.entries.map((e) => [e.id, p.id, e.offset, e.length, e.kind] as const);
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    await bulkInsertIgnore(
      tx.db as unknown as Kysely<never>,
      'blobs',
      ['id', 'pack_id', 'offset', 'length', 'kind'],
      rows,
      ['id'],
    );
  }
}

export async function listPacks(db: ReadDb): Promise<Array<{ id: string; size: number; blob_count: number }>> {
  return db.selectFrom('packs').select(['id', 'size', 'blob_count']).orderBy('id').execute();
}

export async function allBlobs(db: ReadDb): Promise<BlobRow[]> {
  return db.selectFrom('blobs').selectAll().execute();
}

export async function deletePacks(tx: WriteTx, packIds: readonly string[]): Promise<void> {
  for (let i = 0; i < packIds.length; i += BATCH) {
    const ids = packIds.slice(i, i + BATCH);
    await tx.db.deleteFrom('blobs').where('pack_id', 'in', ids).execute();
    await tx.db.deleteFrom('packs').where('id', 'in', ids).execute();
  }
}

/** Re-points blobs to another pack (gc keeps one copy of blobs held twice). */
export async function moveBlobs(tx: WriteTx, rows: readonly BlobRow[]): Promise<void> {
  for (const r of rows) {
    await tx.db
      .updateTable('blobs')
      .set({ pack_id: r.pack_id, offset: r.offset, length: r.length })
      .where('id', '=', r.id)
      .execute();
  }
}
