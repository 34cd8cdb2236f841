import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

/**
 * Rows of a materialized table input (CSV, TSV, JSON Lines or Parquet files under `dir`, read
 * as one table; `.json` files holding arrays of records when there are none of those), through the DuckDB that ships with Cairn — so a Node training job needs no
 * dependencies of its own. `columns` limits what is read; numbers come back as JS numbers.
 */
export async function readTable(
  dir: string,
  opts: { columns?: string[]; limit?: number } = {},
): Promise<Array<Record<string, unknown>>> {
  let files: string[] = [];
  const json: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (['.csv', '.tsv', '.jsonl', '.ndjson', '.parquet'].includes(extname(n).toLowerCase())) files.push(p);
      else if (extname(n).toLowerCase() === '.json') json.push(p);
    }
  };
  if (statSync(dir).isDirectory()) walk(dir);
  else files.push(dir);
  if (!files.length) files = json;
  if (!files.length) throw new Error(`no table files under ${dir}`);
  const ext = extname(files[0]!).toLowerCase();
  const list = `[${files.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ')}]`;
  const reader =
    ext === '.parquet'
      ? `read_parquet(${list})`
      : ext === '.jsonl' || ext === '.ndjson'
        ? `read_json(${list}, format = 'newline_delimited')`
        : ext === '.json'
          ? `read_json(${list}, format = 'array')`
          : `read_csv(${list}, header = true${ext === '.tsv' ? ", delim = '\\t'" : ''})`;
  const cols = opts.columns?.length ? opts.columns.map((c) => `"${c.replace(/"/g, '""')}"`).join(', ') : '*';
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(
      `SELECT ${cols} FROM ${reader}${opts.limit ? ` LIMIT ${Math.floor(opts.limit)}` : ''}`,
    );
    return r
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
      );
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
