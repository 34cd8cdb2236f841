import { CompiledQuery, sql, type Kysely } from 'kysely';
import type { AuditCheckpointRow, AuditEventRow, Database } from '../schema.js';
import type { WriteTx } from '../write-tx.js';
import { bulkInsert, isPostgres, rawQuery } from './bulk.js';
import type { ReadDb } from '../read-db.js';

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
  // Raw SQL on the append path: every audited write runs these statements.
  const db = tx.db as unknown as Kysely<never>;
  const select = `select size, last_leaf, frontier from audit_head where id = 1${dialect === 'postgres' ? ' for update' : ''}`;
  type Row = { size: number | string; last_leaf: string | null; frontier: string };
  let row = (await rawQuery<Row>(db, select, []))[0];
  if (!row) {
    await rawQuery(
      db,
      `insert into audit_head (id, size, last_leaf, frontier) values (1, 0, null, ?) on conflict (id) do nothing`,
      ['{"size":0,"hashes":[]}'],
    );
    row = (await rawQuery<Row>(db, select, []))[0]!;
  }
  return { size: Number(row.size), lastLeaf: row.last_leaf, frontier: row.frontier };
}

export async function readHead(db: ReadDb): Promise<AuditHead> {
  const row = await db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
  return row
    ? { size: Number(row.size), lastLeaf: row.last_leaf, frontier: row.frontier }
    : { size: 0, lastLeaf: null, frontier: '{"size":0,"hashes":[]}' };
}

export async function writeHead(tx: WriteTx, head: AuditHead): Promise<void> {
  await rawQuery(
    tx.db as unknown as Kysely<never>,
    'update audit_head set size = ?, last_leaf = ?, frontier = ? where id = 1',
    [head.size, head.lastLeaf, head.frontier],
  );
}

const EVENT_COLUMNS = [
  'idx',
  'event_id',
  'time',
  'actor',
  'action',
  'target_type',
  'target_name',
  'outcome',
  'leaf_hash',
  'entry',
] as const;

export async function insertEvents(tx: WriteTx, rows: readonly AuditEventRow[]): Promise<void> {
  await bulkInsert(
    tx.db as unknown as Kysely<never>,
    'audit_events',
    EVENT_COLUMNS,
    rows.map((r) => EVENT_COLUMNS.map((c) => r[c])),
    { batch: 90 },
  );
}

export async function insertNodes(
  tx: WriteTx,
  nodes: ReadonlyArray<{ level: number; idx: number; hash: string }>,
): Promise<void> {
  await bulkInsert(
    tx.db as unknown as Kysely<never>,
    'audit_nodes',
    ['level', 'idx', 'hash'],
    nodes.map((n) => [n.level, n.idx, n.hash]),
    { batch: 300 },
  );
}

/**
 * Events and their Merkle nodes in one statement on PostgreSQL (a group commit runs this once per
 * write while it holds the head lock: a round trip saved is saved for every write queued behind).
 */
export async function insertEventsAndNodes(
  tx: WriteTx,
  rows: readonly AuditEventRow[],
  nodes: ReadonlyArray<{ level: number; idx: number; hash: string }>,
): Promise<void> {
  const db = tx.db as unknown as Kysely<never>;
  if (!isPostgres(db)) {
    await insertEvents(tx, rows);
    if (nodes.length) await insertNodes(tx, nodes);
    return;
  }
  await db.executeQuery(
    CompiledQuery.raw(INSERT_EVENTS_AND_NODES, [
      eventsJson(rows),
      nodes.map((n) => n.level),
      nodes.map((n) => n.idx),
      nodes.map((n) => n.hash),
    ]),
  );
}

export async function getNodes(
  db: ReadDb,
  keys: ReadonlyArray<{ level: number; idx: number }>,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const leaves = keys.filter((k) => k.level === 0).map((k) => k.idx);
  for (let i = 0; i < leaves.length; i += 500) {
    const rows = await db
      .selectFrom('audit_events')
      .select(['idx', 'leaf_hash'])
      .where('idx', 'in', leaves.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(`0:${Number(r.idx)}`, r.leaf_hash);
  }
  // One query for all interior nodes a proof needs (a proof needs ~2·log2(n) of them).
  const inner = keys.filter((k) => k.level > 0);
  for (let i = 0; i < inner.length; i += 200) {
    const part = inner.slice(i, i + 200);
    const where = part.map(() => '(level = ? and idx = ?)').join(' or ');
    const rows = await rawQuery<{ level: number | string; idx: number | string; hash: string }>(
      db as unknown as Kysely<never>,
      `select level, idx, hash from audit_nodes where ${where}`,
      part.flatMap((k) => [k.level, k.idx]),
    );
    for (const r of rows) out.set(`${Number(r.level)}:${Number(r.idx)}`, r.hash);
  }
  return out;
}

export async function eventByIndex(db: ReadDb, idx: number): Promise<AuditEventRow | undefined> {
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

export async function queryEvents(db: ReadDb, f: EventFilter): Promise<AuditEventRow[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.action) {
    // A trailing * is a literal prefix match. Not LIKE: SQLite's LIKE ignores ASCII case while
    // PostgreSQL's does not, and `_`/`%` in the prefix would act as wildcards on both.
    const prefix = f.action.slice(0, -1);
    q = f.action.endsWith('*')
      ? q.where(sql<string>`substr(action, 1, ${sql.lit(prefix.length)})`, '=', prefix)
      : q.where('action', '=', f.action);
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
  await tx.db
    .insertInto('audit_checkpoints')
    .values(row)
    .onConflict((oc) => oc.column('size').doNothing())
    .execute();
}

export async function latestCheckpoint(db: ReadDb): Promise<AuditCheckpointRow | undefined> {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('size', 'desc').limit(1).executeTakeFirst();
}

export async function allCheckpoints(db: ReadDb): Promise<AuditCheckpointRow[]> {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('size').execute();
}

export async function checkpointCovering(db: ReadDb, idx: number): Promise<AuditCheckpointRow | undefined> {
  return db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('size', '>', idx)
    .orderBy('size', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The identity generation (migration 0009), read in the appending transaction of guarded events. */
export async function readIdentityGeneration(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('identity_generation').select('n').where('id', '=', 1).executeTakeFirst();
  return row?.n ?? -1;
}

/**
 * PostgreSQL: appends events (and their Merkle nodes) and moves the head in one statement, on
 * condition that the head is still `expect` — what this process appended last. One round trip
 * and one commit instead of a transaction of six statements; the UPDATE takes the head's row
 * lock, and a head another writer moved meanwhile (re-checked after its lock is released) makes
 * the statement write nothing and answer false, for the caller to append under the lock instead.
 * With `guard` (an identity generation), it also writes nothing unless the identity generation is
 * still `guard` as of the statement's snapshot; `generation` answers what that snapshot read, so
 * that a caller whose guard failed can tell which of its events may be appended without it.
 */
export async function appendAtHead(
  db: Kysely<Database>,
  expect: { size: number; lastLeaf: string | null },
  next: AuditHead,
  rows: readonly AuditEventRow[],
  nodes: ReadonlyArray<{ level: number; idx: number; hash: string }>,
  guard: number | null = null,
): Promise<{ appended: boolean; generation: number }> {
  const r = await db.executeQuery<{ ok: number | string; generation: number | null }>(
    CompiledQuery.raw(APPEND_AT_HEAD, [
      next.size,
      next.lastLeaf,
      next.frontier,
      expect.size,
      expect.lastLeaf,
      eventsJson(rows),
      nodes.map((n) => n.level),
      nodes.map((n) => n.idx),
      nodes.map((n) => n.hash),
      guard,
    ]),
  );
  return { appended: Number(r.rows[0]?.ok ?? 0) === 1, generation: Number(r.rows[0]?.generation ?? -1) };
}

/**
 * The rows as one JSON array of objects: the same text for any number of rows, and written by
 * JSON.stringify (native) where an array literal per column escaped every entry's quotes again in
 * JavaScript (a server appends an event for every read it serves).
 */
function eventsJson(rows: readonly AuditEventRow[]): string {
  return JSON.stringify(rows);
}

// One JSON object per row, keyed by column (->> gives the text itself, de-escaped; a missing key is null).
const EVENTS_FROM_JSON = (param: number) =>
  `insert into audit_events (${EVENT_COLUMNS.map((c) => `"${c}"`).join(', ')})
  select ${EVENT_COLUMNS.map((c) => `(r->>'${c}')${c === 'idx' ? '::bigint' : ''}`).join(', ')}
  from json_array_elements($${param}::json) as r`;
const NODES_FROM_ARRAYS = (first: number) =>
  `insert into audit_nodes (level, idx, hash)
  select * from unnest($${first}::integer[], $${first + 1}::bigint[], $${first + 2}::text[])`;

const INSERT_EVENTS_AND_NODES = `with n as (
  ${NODES_FROM_ARRAYS(2)}
) ${EVENTS_FROM_JSON(1)}`;

const APPEND_AT_HEAD = `with g as (
  select n from identity_generation where id = 1
), h as (
  update audit_head set size = $1, last_leaf = $2, frontier = $3
  where id = 1 and size = $4 and last_leaf is not distinct from $5::text
    and ($10::integer is null or $10::integer = (select n from g))
  returning id
), e as (
  ${EVENTS_FROM_JSON(6)}
  where exists (select 1 from h)
), n as (
  ${NODES_FROM_ARRAYS(7)}
  where exists (select 1 from h)
)
select (select count(*) from h) as ok, (select n from g) as generation`;
