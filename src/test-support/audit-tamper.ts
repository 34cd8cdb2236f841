import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Frontier } from '../audit/merkle/index.js';
import { canonicalJson } from '../core/canonical-json.js';
import { PG_BASE_URL } from './services.js';

/**
 * Raw SQL on a workspace's metadata database, the way an attacker with access to the database
 * alone would change it (no Cairn code, no key). Statements use `?` placeholders on both engines.
 */
export interface RawSql {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  run(sql: string, params?: unknown[]): Promise<void>;
  close(): Promise<void>;
}

export function rawSqlite(ws: string): RawSql {
  const db = new Database(join(ws, '.cairn', 'meta.db'));
  return {
    all: async <T>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params) as T[],
    run: async (sql, params = []) => void db.prepare(sql).run(...params),
    close: async () => void db.close(),
  };
}

export async function rawPostgres(schema: string): Promise<RawSql> {
  const client = new pg.Client({ connectionString: PG_BASE_URL });
  await client.connect();
  await client.query(`set search_path to ${schema}`);
  const numbered = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  return {
    all: async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows as T[],
    run: async (sql, params = []) => void (await client.query(numbered(sql), params)),
    close: () => client.end(),
  };
}

const leafOf = (entry: string) =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(entry, 'utf8')
    .digest('hex');

/**
 * What a careful forger does after editing rows: rebuild the stored tree and the head from the
 * leaf hashes now in the table, so that nothing but signed checkpoints can tell.
 */
export async function rebuildTree(db: RawSql): Promise<void> {
  const leaves = await db.all<{ leaf_hash: string }>('select leaf_hash from audit_events order by idx');
  const f = new Frontier();
  const nodes: Array<[number, number, string]> = [];
  for (const l of leaves)
    for (const n of f.append(Buffer.from(l.leaf_hash, 'hex'))) nodes.push([n.level, n.index, n.hash.toString('hex')]);
  await db.run('delete from audit_nodes');
  for (const n of nodes) await db.run('insert into audit_nodes (level, idx, hash) values (?, ?, ?)', n);
  await db.run('update audit_head set size = ?, last_leaf = ?, frontier = ? where id = 1', [
    f.size,
    leaves[leaves.length - 1]?.leaf_hash ?? null,
    JSON.stringify(f.toJSON()),
  ]);
}

/** Rewrites entry `from` with `edit`, re-chains and re-hashes every later entry, and rebuilds the tree. */
export async function rewriteHistory(
  db: RawSql,
  from: number,
  edit: (e: Record<string, unknown>) => void,
): Promise<void> {
  const rows = await db.all<{ idx: number | string; entry: string; leaf_hash: string }>(
    'select idx, entry, leaf_hash from audit_events where idx >= ? order by idx',
    [from - 1],
  );
  let prev = from === 0 ? null : rows.shift()!.leaf_hash;
  for (const r of rows) {
    const e = JSON.parse(r.entry) as Record<string, unknown>;
    if (Number(r.idx) === from) edit(e);
    e.prev = prev;
    const entry = canonicalJson(e);
    prev = leafOf(entry);
    await db.run('update audit_events set entry = ?, leaf_hash = ? where idx = ?', [entry, prev, Number(r.idx)]);
  }
  await rebuildTree(db);
}
