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
  /**
   * A schema column the file lacks: `error` (default) refuses the load; `ignore` loads the
   * rest, for validation, whose schema check then reports the column as missing.
   */
  missingSchemaColumns?: 'error' | 'ignore';
  name?: string;
}

/**
 * Makes a version's tabular files queryable as one relation. Text formats are typed from the
 * WHOLE file, never from a sample (DuckDB's sniffer over every row), so a bad value late in
 * the file never aborts the load or mistypes a column; it only widens the type. Declared
 * schema types are applied strictly and their unparsable values counted. Parquet already
 * carries types and is read in place.
 */
export async function loadTable(
  engine: TableEngine,
  absPaths: readonly string[],
  format: TableSource['format'],
  opts: LoadOptions = {},
): Promise<LoadedTable> {
  const name = opts.name ?? 'data';
  refuseEmpty(absPaths);
  const files = `[${absPaths.map(lit).join(', ')}]`;
  if (format === 'parquet') {
    await engine.run(
      `CREATE OR REPLACE VIEW ${ident(name)} AS SELECT * FROM read_parquet(${files}, union_by_name = true)`,
    );
    return describe(engine, name, format, {});
  }
  if (format === 'jsonl' || format === 'json') {
    await engine.run(`CREATE OR REPLACE TABLE ${ident(name)} AS SELECT * FROM ${readerSql(absPaths, format)}`);
    return describe(engine, name, format, {});
  }
  return loadDelimited(engine, absPaths, format, name, opts);
}

/** The schema's types, checked before any of them is spliced into SQL. */
function declaredSchema(schema: Record<string, string> | undefined): Map<string, string> {
  // A Map, not the object: a CSV column named `constructor` or `toString` must not find
  // Object.prototype's members as its declared type.
  const declared = new Map(Object.entries(schema ?? {}));
  for (const [c, t] of declared) checkTypeName(c, t);
  return declared;
}

/** A declared type is spliced into SQL: nothing but a type name's characters (no `;`, no quotes). */
export function checkTypeName(column: string, type: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_ ,()[\]]*$/.test(type))
    throw new CairnError(
      'INVALID_INPUT',
      `the schema gives column ${JSON.stringify(column)} the type ${JSON.stringify(type)}, which is not a type name`,
      { data: { column, type } },
    );
}

async function loadDelimited(
  engine: TableEngine,
  absPaths: readonly string[],
  format: Exclude<TableSource['format'], 'parquet' | 'jsonl' | 'json'>,
  name: string,
  opts: LoadOptions,
): Promise<LoadedTable> {
  const files = `[${absPaths.map(lit).join(', ')}]`;
  const delim = format === 'tsv' ? '\\t' : ',';
  const declared = declaredSchema(opts.schema);
  const raw = `${name}__raw`;
  // sample_size = -1 makes DuckDB's sniffer type every column from every row (a bad value late
  // in the file widens the type instead of aborting the load); declared columns come in as
  // text, to be cast and counted below.
  const header = await engine.all<{ column_name: string }>(
    `SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv(${files}, header = true, skip = 0, all_varchar = true, delim = ${lit(delim)}, quote = '"', escape = '"', union_by_name = true))`,
  );
  const inFile = new Set(header.map((h) => h.column_name));
  const asText = [...declared.keys()]
    .filter((c) => inFile.has(c))
    .map((c) => `${lit(c)}: 'VARCHAR'`)
    .join(', ');
  await engine.run(`CREATE OR REPLACE TABLE ${ident(raw)} AS SELECT * FROM ${readerSql(absPaths, format, asText)}`);
  const desc = await engine.all<{ column_name: string; column_type: string }>(
    `SELECT column_name, column_type FROM (DESCRIBE ${ident(raw)})`,
  );
  const cols = desc.map((d) => d.column_name);
  for (const c of declared.keys()) {
    if (!cols.includes(c) && opts.missingSchemaColumns !== 'ignore')
      throw new CairnError(
        'INVALID_INPUT',
        `the schema names column ${JSON.stringify(c)}, which the file does not have`,
        { data: { column: c, columns: cols } },
      );
  }
  const present = [...declared].filter(([c]) => cols.includes(c));
  const invalid = await castDeclared(engine, name, raw, present);
  return describeLoaded(engine, name, ident(name), desc, declared, invalid, format);
}

/** The loaded table as callers see it: declared types win over the engine's, with counts of values that did not parse. */
export async function describeLoaded(
  engine: TableEngine,
  name: string,
  countFrom: string,
  desc: ReadonlyArray<{ column_name: string; column_type: string }>,
  declared: ReadonlyMap<string, string>,
  invalid: ReadonlyMap<string, number>,
  format: LoadedTable['format'],
): Promise<LoadedTable> {
  const [{ rows }] = (await engine.all<{ rows: number }>(`SELECT count(*) AS rows FROM ${countFrom}`)) as [
    { rows: number },
  ];
  const columns: LoadedColumn[] = desc.map((d) => ({
    name: d.column_name,
    type: declared.has(d.column_name) ? declared.get(d.column_name)!.toUpperCase() : d.column_type,
    invalid: invalid.get(d.column_name) ?? 0,
  }));
  return { name, columns, rows: Number(rows), format };
}

/**
 * Turns the raw text table into `name`, declared columns cast strictly; returns how many
 * present values of each did not parse.
 */
async function castDeclared(
  engine: TableEngine,
  name: string,
  raw: string,
  present: ReadonlyArray<[string, string]>,
): Promise<Map<string, number>> {
  if (present.length === 0) {
    await engine.run(`DROP TABLE IF EXISTS ${ident(name)}`);
    await engine.run(`ALTER TABLE ${ident(raw)} RENAME TO ${ident(name)}`);
    return new Map();
  }
  const invalid = await countInvalid(engine, ident(raw), present);
  const replace = strictCastsSql(present);
  await engine.run(`CREATE OR REPLACE TABLE ${ident(name)} AS SELECT * REPLACE (${replace}) FROM ${ident(raw)}`);
  await engine.run(`DROP TABLE ${ident(raw)}`);
  return invalid;
}

/** How many present (non-blank) values of each text column do not parse strictly as its type. */
export async function countInvalid(
  engine: TableEngine,
  from: string,
  casts: ReadonlyArray<[string, string]>,
): Promise<Map<string, number>> {
  const probes = casts.map(
    ([c, t], i) =>
      `count(*) FILTER (WHERE NULLIF(trim(${ident(c)}), '') IS NOT NULL AND NOT (${parses(`NULLIF(trim(${ident(c)}), '')`, t)})) AS b${i}`,
  );
  const [stats] = await engine.all<Record<string, number>>(`SELECT ${probes.join(', ')} FROM ${from}`);
  return new Map(casts.map(([c], i) => [c, Number(stats![`b${i}`] ?? 0)]));
}

/** A `SELECT * REPLACE` list: values that do not parse strictly become NULL (countInvalid counts them). */
export function strictCastsSql(casts: ReadonlyArray<[string, string]>): string {
  return casts
    .map(
      ([c, t]) =>
        `CASE WHEN ${parses(`NULLIF(trim(${ident(c)}), '')`, t)} THEN TRY_CAST(NULLIF(trim(${ident(c)}), '') AS ${t}) END AS ${ident(c)}`,
    )
    .join(', ');
}

/** An empty file has no header to type a table from: say so instead of DuckDB's puzzling error. */
export function refuseEmpty(absPaths: readonly string[]): void {
  for (const p of absPaths) {
    if (statSync(p).size === 0) {
      throw new CairnError('INVALID_INPUT', `${p} is empty`, { hint: 'remove the empty file or add data to it' });
    }
  }
}

/**
 * The table function that reads text files typed from every row. `asText` (`'col': 'VARCHAR', …`)
 * reads those columns as text, to be cast strictly by the caller.
 */
export function readerSql(
  absPaths: readonly string[],
  format: Exclude<TableSource['format'], 'parquet'>,
  asText = '',
): string {
  const files = `[${absPaths.map(lit).join(', ')}]`;
  // sample_size = -1: DuckDB's JSON reader then types from every record.
  if (format === 'jsonl' || format === 'json')
    return `read_json(${files}, format = ${format === 'json' ? "'array'" : "'newline_delimited'"}, sample_size = -1, union_by_name = true)`;
  const delim = format === 'tsv' ? '\\t' : ',';
  return `read_csv(${files}, header = true, skip = 0, sample_size = -1, delim = ${lit(delim)}, quote = '"', escape = '"', strict_mode = true, union_by_name = true${asText ? `, types = {${asText}}` : ''})`;
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
  if (t === 'DATE')
    return `(regexp_full_match(${v}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') AND TRY_CAST(${v} AS DATE) IS NOT NULL)`;
  return `TRY_CAST(${v} AS ${t}) IS NOT NULL`;
}

async function describe(
  engine: TableEngine,
  name: string,
  format: TableSource['format'],
  _declared: Record<string, string>,
): Promise<LoadedTable> {
  const desc = await engine.all<{ column_name: string; column_type: string }>(
    `SELECT column_name, column_type FROM (DESCRIBE ${ident(name)})`,
  );
  const [{ rows }] = (await engine.all<{ rows: number }>(`SELECT count(*) AS rows FROM ${ident(name)}`)) as [
    { rows: number },
  ];
  return {
    name,
    columns: desc.map((d) => ({ name: d.column_name, type: d.column_type, invalid: 0 })),
    rows: Number(rows),
    format,
  };
}
