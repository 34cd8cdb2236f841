import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';

/**
 * Multi-row INSERT … ON CONFLICT DO NOTHING as one raw statement. Kysely's builder costs
 * several microseconds per value; the chunk index inserts tens of thousands of rows per
 * commit, and full batches share one SQL text, so the SQLite statement cache hits.
 */
export async function bulkInsertIgnore(db: Kysely<never>, table: string, columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>, conflict: readonly string[], batch = 400): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const q = (name: string) => `"${name}"`;
  for (let i = 0; i < rows.length; i += batch) {
    const slice = rows.slice(i, i + batch);
    let n = 0;
    const values = slice.map(() => `(${columns.map(() => (pg ? `$${++n}` : '?')).join(', ')})`).join(', ');
    const text = `insert into ${q(table)} (${columns.map(q).join(', ')}) values ${values} on conflict (${conflict.map(q).join(', ')}) do nothing`;
    await db.executeQuery(CompiledQuery.raw(text, slice.flat() as unknown[]));
  }
}
