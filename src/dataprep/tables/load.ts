import { statSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { ident, lit, type TableEngine } from './engine.js';
import type { TableSource } from './source.js';

/** The column types Cairn infers or accepts in a declared schema (DuckDB names). */
export const INFERABLE = ['BIGINT', 'DOUBLE', 'BOOLEAN', 'DATE', 'TIMESTAMP', 'VARCHAR'] as const;

export interface LoadedColumn {
  name: string;
  type: string;
  /** Values that were present in the file but did not parse as `type` (declared schemas only). */
  invalid: number;
}

export interface LoadedTable {
  /** The relation to query (a table or view name). */
  name: string;
  columns: LoadedColumn[];
  rows: number;
  format: TableSource['format'];
}

export interface LoadOptions {
  /** Column → type; unlisted columns are inferred. */
  schema?: Record<string, string>;
  name?: string;
}

/**
 * Makes a version's tabular files queryable as one relation. Text formats are typed from the
 * WHOLE file, never from a sample: CSV/TSV load as text first, one scan finds for every column
 * the narrowest type every value parses as, and a second pass casts. A bad value late in the
 * file therefore never aborts the load or mistypes a column; it only widens the type.
 * Parquet already carries types and is read in place.
 */
export async function loadTable(engine: TableEngine, absPaths: readonly string[], format: TableSource['format'], opts: LoadOptions = {}): Promise<LoadedTable> {
  const name = opts.name ?? 'data';
  for (const p of absPaths) {
    if (statSync(p).size === 0) {
      throw new CairnError('INVALID_INPUT', `${p} is empty`, { hint: 'remove the empty file or add data to it' });
    }
  }
  const files = `[${absPaths.map(lit).join(', ')}]`;
  if (format === 'parquet') {
    await engine.run(`CREATE OR REPLACE VIEW ${ident(name)} AS SELECT * FROM read_parquet(${files}, union_by_name = true)`);
    return describe(engine, name, format, {});
  }
  if (format === 'jsonl') {
    // sample_size = -1: DuckDB's JSON reader then types from every record.
    await engine.run(`CREATE OR REPLACE TABLE ${ident(name)} AS SELECT * FROM read_json(${files}, format = 'newline_delimited', sample_size = -1, union_by_name = true)`);
    return describe(engine, name, format, {});
  }
  const delim = format === 'tsv' ? '\\t' : ',';
  const raw = `${name}__text`;
  await engine.run(
    `CREATE OR REPLACE TABLE ${ident(raw)} AS SELECT * FROM read_csv(${files}, header = true, all_varchar = true, delim = ${lit(delim)}, quote = '"', escape = '"', strict_mode = true, union_by_name = true)`,
  );
  const cols = (await engine.all<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE ${ident(raw)})`)).map((r) => r.column_name);
  const declared = opts.schema ?? {};
  for (const c of Object.keys(declared)) {
    if (!cols.includes(c)) throw new CairnError('INVALID_INPUT', `the schema names column ${JSON.stringify(c)}, which the file does not have`, { data: { column: c, columns: cols } });
  }
  // One scan: for every column and candidate type, how many present values fail to parse.
  const probes: string[] = [];
  for (const [i, c] of cols.entries()) {
    const v = `NULLIF(trim(${ident(c)}), '')`;
    probes.push(`count(${v}) AS n${i}`);
    const types = declared[c] ? [declared[c]!] : INFERABLE.slice(0, -1);
    for (const [j, t] of types.entries()) probes.push(`count(*) FILTER (WHERE ${v} IS NOT NULL AND NOT (${parses(v, t)})) AS b${i}_${j}`);
  }
  const [stats] = await engine.all<Record<string, number>>(`SELECT count(*) AS rows, ${probes.join(', ')} FROM ${ident(raw)}`);
  const columns: LoadedColumn[] = cols.map((c, i) => {
    if (declared[c]) return { name: c, type: declared[c]!.toUpperCase(), invalid: Number(stats![`b${i}_0`] ?? 0) };
    const present = Number(stats![`n${i}`] ?? 0);
    const type = present === 0 ? 'VARCHAR' : INFERABLE.slice(0, -1).find((_, j) => Number(stats![`b${i}_${j}`]) === 0) ?? 'VARCHAR';
    return { name: c, type, invalid: 0 };
  });
  const select = columns
    .map((c) => {
      if (c.type === 'VARCHAR') return ident(c.name);
      const v = `NULLIF(trim(${ident(c.name)}), '')`;
      // Values that do not parse strictly become NULL (they are counted in `invalid`).
      return `CASE WHEN ${parses(v, c.type)} THEN TRY_CAST(${v} AS ${c.type}) END AS ${ident(c.name)}`;
    })
    .join(', ');
  await engine.run(`CREATE OR REPLACE TABLE ${ident(name)} AS SELECT ${select} FROM ${ident(raw)}`);
  await engine.run(`DROP TABLE ${ident(raw)}`);
  return { name, columns, rows: Number(stats!.rows), format };
}

/**
 * Whether text `v` is a value of `type`, strictly: DuckDB's casts are lenient ('2.5' casts to
 * BIGINT 3, a timestamp to a DATE), which would silently change data.
 */
export function parses(v: string, type: string): string {
  const t = type.toUpperCase();
  if (/^(BIGINT|INTEGER|INT|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|INT64|INT32|LONG)$/.test(t)) {
    return `(regexp_full_match(${v}, '[+-]?[0-9]+') AND TRY_CAST(${v} AS ${t}) IS NOT NULL)`;
  }
  if (t === 'BOOLEAN' || t === 'BOOL') return `lower(${v}) IN ('true', 'false')`;
  if (t === 'DATE') return `(regexp_full_match(${v}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') AND TRY_CAST(${v} AS DATE) IS NOT NULL)`;
  return `TRY_CAST(${v} AS ${t}) IS NOT NULL`;
}

async function describe(engine: TableEngine, name: string, format: TableSource['format'], _declared: Record<string, string>): Promise<LoadedTable> {
  const desc = await engine.all<{ column_name: string; column_type: string }>(`SELECT column_name, column_type FROM (DESCRIBE ${ident(name)})`);
  const [{ rows }] = (await engine.all<{ rows: number }>(`SELECT count(*) AS rows FROM ${ident(name)}`)) as [{ rows: number }];
  return { name, columns: desc.map((d) => ({ name: d.column_name, type: d.column_type, invalid: 0 })), rows: Number(rows), format };
}
