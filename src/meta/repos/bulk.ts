import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';

const isPg = new WeakMap<object, boolean>();

/** Whether a Kysely instance (or transaction) talks to PostgreSQL (placeholders $n) or SQLite (?). */
export function isPostgres(db: Kysely<never>): boolean {
  const executor = db.getExecutor();
  let v = isPg.get(executor.adapter);
  if (v === undefined) {
    v = executor.adapter instanceof PostgresAdapter;
    isPg.set(executor.adapter, v);
  }
  return v;
}

/** Runs SQL written with `?` placeholders, numbered for PostgreSQL. */
export async function rawQuery<R>(db: Kysely<never>, text: string, params: readonly unknown[]): Promise<R[]> {
  let sqlText = text;
  if (isPostgres(db)) {
    let n = 0;
    sqlText = text.replace(/\?/g, () => `$${++n}`);
  }
  const r = await db.executeQuery<R>(CompiledQuery.raw(sqlText, params as unknown[]));
  return r.rows as R[];
}

/**
 * Multi-row INSERT as one raw statement (optionally ON CONFLICT DO NOTHING). Kysely's builder
 * costs several microseconds per value; the chunk index and the audit log insert many rows,
 * and full batches share one SQL text, so the SQLite statement cache hits.
 */
export async function bulkInsert(
  db: Kysely<never>,
  table: string,
  columns: readonly string[],
  rows: ReadonlyArray<readonly unknown[]>,
  opts: { ignoreConflictOn?: readonly string[]; batch?: number } = {},
): Promise<void> {
  const batch = opts.batch ?? 400;
  const q = (name: string) => `"${name}"`;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const conflict = opts.ignoreConflictOn ? ` on conflict (${opts.ignoreConflictOn.map(q).join(', ')}) do nothing` : '';
  for (let i = 0; i < rows.length; i += batch) {
    const slice = rows.slice(i, i + batch);
    const text = `insert into ${q(table)} (${columns.map(q).join(', ')}) values ${slice.map(() => tuple).join(', ')}${conflict}`;
    await rawQuery(db, text, slice.flat());
  }
}

export async function bulkInsertIgnore(
  db: Kysely<never>,
  table: string,
  columns: readonly string[],
  rows: ReadonlyArray<readonly unknown[]>,
  conflict: readonly string[],
  batch = 400,
): Promise<void> {
  await bulkInsert(db, table, columns, rows, { ignoreConflictOn: conflict, batch });
}
