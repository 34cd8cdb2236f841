import type { LineageEdgeRow } from '../schema.js';
import type { WriteTx } from '../write-tx.js';
import type { ReadDb } from '../read-db.js';

export type NewLineageEdge = Omit<LineageEdgeRow, 'id'>;

export async function addEdges(tx: WriteTx, edges: readonly LineageEdgeRow[]): Promise<void> {
  if (edges.length)
    await tx.db
      .insertInto('lineage_edges')
      .values([...edges])
      .execute();
}

/** Edges whose destination is the node (what it was built from). */
export async function edgesInto(db: ReadDb, type: string, id: string): Promise<LineageEdgeRow[]> {
  return db
    .selectFrom('lineage_edges')
    .selectAll()
    .where('dst_type', '=', type)
    .where('dst_id', '=', id)
    .orderBy('created_at')
    .execute();
}

/** Edges whose source is the node (what was built from it). */
export async function edgesFrom(db: ReadDb, type: string, id: string): Promise<LineageEdgeRow[]> {
  return db
    .selectFrom('lineage_edges')
    .selectAll()
    .where('src_type', '=', type)
    .where('src_id', '=', id)
    .orderBy('created_at')
    .execute();
}
