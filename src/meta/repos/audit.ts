import { sql, type Kysely } from 'kysely';
import type { AuditCheckpointRow, AuditEventRow, Database } from '../schema.js';
import type { WriteTx } from '../write-tx.js';

export interface AuditHead {
  size: number;
  lastLeaf: string | null;
  frontier: string;
}

/**
 * Reads the head inside the writing transaction. On PostgreSQL the row is locked FOR UPDATE
 * so concurrent appenders queue; SQLite's BEGIN IMMEDIATE already serializes writers.
 */
export async function lockHead(tx: WriteTx, dialect: 'sqlite' | 'postgres'): Promise<AuditHead> {
  let q = tx.db.selectFrom('audit_head').selectAll().where('id', '=', 1);
  if (dialect === 'postgres') q = q.forUpdate();
  let row = await q.executeTakeFirst();
  if (!row) {
    await tx.db.insertInto('audit_head').values({ id: 1, size: 0, last_leaf: null, frontier: '{"size":0,"hashes":[]}' }).onConflict((oc) => oc.column('id').doNothing()).execute();
    row = await q.executeTakeFirstOrThrow();
  }
  return { size: Number(row.size), lastLeaf: row.last_leaf, frontier: row.frontier };
}

export async function readHead(db: Kysely<Database>): Promise<AuditHead> {
  const row = await db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
  return row ? { size: Number(row.size), lastLeaf: row.last_leaf, frontier: row.frontier } : { size: 0, lastLeaf: null, frontier: '{"size":0,"hashes":[]}' };
}

export async function writeHead(tx: WriteTx, head: AuditHead): Promise<void> {
  await tx.db.updateTable('audit_head').set({ size: head.size, last_leaf: head.lastLeaf, frontier: head.frontier }).where('id', '=', 1).execute();
}

export async function insertEvents(tx: WriteTx, rows: readonly AuditEventRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) await tx.db.insertInto('audit_events').values(rows.slice(i, i + 200)).execute();
}

export async function insertNodes(tx: WriteTx, nodes: ReadonlyArray<{ level: number; idx: number; hash: string }>): Promise<void> {
  for (let i = 0; i < nodes.length; i += 300) await tx.db.insertInto('audit_nodes').values(nodes.slice(i, i + 300)).execute();
}

export async function getNodes(db: Kysely<Database>, keys: ReadonlyArray<{ level: number; idx: number }>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const leaves = keys.filter((k) => k.level === 0).map((k) => k.idx);
  for (let i = 0; i < leaves.length; i += 500) {
    const rows = await db.selectFrom('audit_events').select(['idx', 'leaf_hash']).where('idx', 'in', leaves.slice(i, i + 500)).execute();
    for (const r of rows) out.set(`0:${Number(r.idx)}`, r.leaf_hash);
  }
  const inner = keys.filter((k) => k.level > 0);
  for (const k of inner) {
    const r = await db.selectFrom('audit_nodes').select('hash').where('level', '=', k.level).where('idx', '=', k.idx).executeTakeFirst();
    if (r) out.set(`${k.level}:${k.idx}`, r.hash);
  }
  return out;
}

export async function eventByIndex(db: Kysely<Database>, idx: number): Promise<AuditEventRow | undefined> {
  return db.selectFrom('audit_events').selectAll().where('idx', '=', idx).executeTakeFirst();
}

export interface EventFilter {
  actor?: string;
  action?: string;
  targetName?: string;
  targetType?: string;
  since?: string;
  until?: string;
  outcome?: string;
  limit?: number;
  desc?: boolean;
}

export async function queryEvents(db: Kysely<Database>, f: EventFilter): Promise<AuditEventRow[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.action) {
    // A trailing * is a literal prefix match. Not LIKE: SQLite's LIKE ignores ASCII case while
    // PostgreSQL's does not, and `_`/`%` in the prefix would act as wildcards on both.
    const prefix = f.action.slice(0, -1);
    q = f.action.endsWith('*') ? q.where(sql<string>`substr(action, 1, ${sql.lit(prefix.length)})`, '=', prefix) : q.where('action', '=', f.action);
  }
  if (f.targetName) q = q.where('target_name', '=', f.targetName);
  if (f.targetType) q = q.where('target_type', '=', f.targetType);
  if (f.outcome) q = q.where('outcome', '=', f.outcome);
  if (f.since) q = q.where('time', '>=', f.since);
  if (f.until) q = q.where('time', '<', f.until);
  q = q.orderBy('idx', f.desc ? 'desc' : 'asc');
  if (f.limit) q = q.limit(f.limit);
  return q.execute();
}

export async function insertCheckpoint(tx: WriteTx, row: AuditCheckpointRow): Promise<void> {
  await tx.db.insertInto('audit_checkpoints').values(row).onConflict((oc) => oc.column('size').doNothing()).execute();
}

export async function latestCheckpoint(db: Kysely<Database>): Promise<AuditCheckpointRow | undefined> {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('size', 'desc').limit(1).executeTakeFirst();
}

export async function allCheckpoints(db: Kysely<Database>): Promise<AuditCheckpointRow[]> {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('size').execute();
}

export async function checkpointCovering(db: Kysely<Database>, idx: number): Promise<AuditCheckpointRow | undefined> {
  return db.selectFrom('audit_checkpoints').selectAll().where('size', '>', idx).orderBy('size', 'desc').limit(1).executeTakeFirst();
}
