import { rmSync } from 'node:fs';
import { ident, lit, type TableEngine } from './engine.js';

/** How `clean` and `split` write a table version: Parquet (default, typed) or CSV (header, RFC 4180). */
export type OutputFormat = 'parquet' | 'csv';

/**
 * Rewrites a Parquet file Cairn just wrote as CSV in the same row order (by file row number, so
 * parallel reading never reorders it), then removes the Parquet file. Same input, same bytes.
 */
export async function parquetToCsv(engine: TableEngine, parquet: string, csv: string): Promise<void> {
  const cols = await engine.all<{ column_name: string }>(
    `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${lit(parquet)}))`,
  );
  const list = cols.map((c) => ident(c.column_name)).join(', ');
  await engine.run(
    `COPY (SELECT ${list} FROM read_parquet(${lit(parquet)}, file_row_number = true) ORDER BY file_row_number) TO ${lit(csv)} (FORMAT csv, HEADER true)`,
  );
  rmSync(parquet, { force: true });
}
