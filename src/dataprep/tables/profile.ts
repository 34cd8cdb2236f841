import { ident, lit, type TableEngine } from './engine.js';
import type { LoadedTable } from './load.js';

/**
 * What `cairn data profile` stores with a version (docs/DATAPREP.md, "Profiles and validation
 * suites"). Three queries, each one pass: (1) one aggregate for counts, moments, min/max,
 * quantile sketches and distinct estimates; then, because they need (1)'s answers, (2) one
 * GROUPING SETS query for exact distinct counts and value counts (every column but near-unique
 * floats and timestamps) and (3) one aggregate of histograms on (1)'s quantile edges. DuckDB's approx_top_k was both slower
 * and far off on real data (flights' busiest minute: 39 instead of 103), so top values are
 * counted exactly.
 */
export interface TableProfile {
  format: 'cairn.profile/v1';
  rows: number;
  columns: ColumnProfile[];
}

export type ColumnKind = 'numeric' | 'temporal' | 'boolean' | 'text' | 'other';

export interface ValueCount {
  /** Numbers and booleans as JSON values; everything else as DuckDB's text form. */
  value: unknown;
  count: number;
}

export interface Quantiles {
  p01: unknown;
  p05: unknown;
  p25: unknown;
  p50: unknown;
  p75: unknown;
  p95: unknown;
  p99: unknown;
}

export interface Histogram {
  /**
   * `edges[0]` is the minimum and the last edge the maximum; the inner edges are the column's
   * own 5 % … 95 % quantiles, deduplicated. Bin 0 holds values ≤ edges[1], bin i values in
   * (edges[i], edges[i+1]]; applied to other data, values below the minimum count in the first
   * bin and values above the maximum in the last.
   */
  edges: number[];
  counts: number[];
}

export interface ColumnProfile {
  name: string;
  /** The DuckDB type of the loaded relation, e.g. BIGINT, VARCHAR, TIMESTAMP. */
  type: string;
  kind: ColumnKind;
  /** Non-null values. */
  count: number;
  nulls: number;
  /** Distinct non-null values; a HyperLogLog estimate unless `distinctExact`. */
  distinct: number;
  distinctExact: boolean;
  /** Numbers for numeric columns, text for the rest (temporal values as `2001-01-02 03:04:05`). */
  min?: unknown;
  max?: unknown;
  /** Float columns: NaN and ±Infinity values, left out of min, max, mean, stddev and quantiles (absent when 0). */
  nonFinite?: number;
  mean?: number | null;
  stddev?: number | null;
  /**
   * Numeric and temporal columns: exact values of the data up to 100,000 rows
   * (`quantile_disc`), a t-digest estimate (`approx_quantile`) beyond.
   */
  quantiles?: Quantiles;
  /**
   * Up to 10 most frequent values with exact counts, most frequent first (ties: text order,
   * or DuckDB's hash order past 10,000 distinct values). Empty for near-unique columns.
   */
  top: ValueCount[];
  /** Numeric columns. */
  histogram?: Histogram;
  /** Every distinct non-null value (as text, `CAST(v AS VARCHAR)`) with its count, when there are at most 1,000. */
  frequencies?: Array<{ value: string; count: number }>;
}

/** Columns with fewer distinct values (estimated) come back whole from the grouping query. */
export const EXACT_DISTINCT_BELOW = 10_000;
export const FREQUENCY_CAP = 1_000;
const TOP = 10;
/** Distinct/non-null at or above this: near-unique, no top values worth listing. */
const NEAR_UNIQUE = 0.9;
const QUANTILE_NAMES = ['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99'] as const;
const QUANTILE_AT = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
/** 0.05 … 0.95: the inner edges of the 20-bin histogram. */
const EDGE_AT = Array.from({ length: 19 }, (_, i) => Number(((i + 1) * 0.05).toFixed(2)));
/** One sketch serves both the reported quantiles and the histogram edges. */
const SKETCH_AT = [...new Set([...QUANTILE_AT, ...EDGE_AT])].sort((a, b) => a - b);
/** Grouping-sets keys per query; wider tables cost one more pass per chunk. */
const KEYS_PER_SCAN = 64;
/** Up to this many rows quantiles are exact (quantile_disc: values of the data); beyond, a t-digest sketch. */
export const EXACT_QUANTILES_UPTO = 100_000;

const INTEGER =
  /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT1|INT2|INT4|INT8|INT16|INT32|INT64|LONG|SHORT|SIGNED)$/;
const FLOAT = /^(FLOAT|FLOAT4|FLOAT8|REAL|DOUBLE|DOUBLE PRECISION)$/;
const DECIMAL = /^(DECIMAL|NUMERIC)(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?$/;

export function columnKind(type: string): ColumnKind {
  const t = type.toUpperCase().trim();
  if (INTEGER.test(t) || FLOAT.test(t) || DECIMAL.test(t)) return 'numeric';
  if (/^(DATE|TIME|TIMESTAMP(_S|_MS|_NS|TZ)?|TIMESTAMP WITH TIME ZONE|TIME WITH TIME ZONE|TIMETZ|DATETIME)$/.test(t))
    return 'temporal';
  if (t === 'BOOLEAN' || t === 'BOOL' || t === 'LOGICAL') return 'boolean';
  if (/^(VARCHAR|TEXT|STRING|CHAR|BPCHAR|UUID)(\s*\(\s*\d+\s*\))?$/.test(t) || t.startsWith('ENUM(')) return 'text';
  return 'other';
}

export function isIntegerType(type: string): boolean {
  return INTEGER.test(type.toUpperCase().trim());
}

export function isFloatType(type: string): boolean {
  return FLOAT.test(type.toUpperCase().trim());
}

/** Nested values (lists, structs, maps) and blobs get counts only. */
export function isScalarType(type: string): boolean {
  return !/[[\]]|^(STRUCT|MAP|UNION)\b|^(BLOB|BYTEA|BINARY|VARBINARY|BIT|BITSTRING|VARINT|BIGNUM)$/i.test(type.trim());
}

/** A SQL DOUBLE for a finite number, written in shortest round-trip form so it is exact. */
export function doubleLiteral(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return `CAST(${lit(String(n))} AS DOUBLE)`;
}

/**
 * SQL aggregate: a numeric expression's histogram on `edges` (see `Histogram`), as DuckDB's
 * list of {key, value}; `histogramCounts` turns it into counts per bin. NaN is left out.
 */
export function histogramSql(x: string, type: string, edges: readonly number[]): string {
  const v = `CAST(${x} AS DOUBLE)`;
  const inner = edges.slice(1, -1);
  const filter = isFloatType(type) ? ` FILTER (WHERE NOT isnan(${v}))` : '';
  if (inner.length === 0) return `count(${x})${filter}`;
  return `histogram(${v}, [${inner.map(doubleLiteral).join(', ')}])${filter}`;
}

/** Counts per bin from `histogramSql`'s result: keys are the inner edges; anything else is the last bin. */
export function histogramCounts(result: unknown, edges: readonly number[]): number[] {
  const counts = new Array<number>(Math.max(1, edges.length - 1)).fill(0);
  if (typeof result === 'number' || typeof result === 'string') {
    counts[0] = Number(result);
    return counts;
  }
  const inner = edges.slice(1, -1);
  for (const entry of (result as Array<{ key: number | null; value: number | string }> | null) ?? []) {
    const at = entry.key === null ? -1 : inner.indexOf(Number(entry.key));
    counts[at === -1 ? counts.length - 1 : at] =
      (counts[at === -1 ? counts.length - 1 : at] ?? 0) + Number(entry.value);
  }
  return counts;
}

/** Ties among equally frequent values: numbers by value, everything else by its text. */
function valueOrder(a: string, b: string, kind: ColumnKind): number {
  if (kind === 'numeric') {
    const d = Number(a) - Number(b);
    if (Number.isFinite(d) && d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numbers and booleans as JSON values (integers beyond 2^53 stay text, as toPlain does). */
export function typedValue(text: string, column: { kind: ColumnKind; type: string }): unknown {
  if (column.kind === 'boolean') return text === 'true';
  if (column.kind !== 'numeric') return text;
  const n = Number(text);
  if (!Number.isFinite(n) || (isIntegerType(column.type) && !Number.isSafeInteger(n))) return text;
  return n;
}

interface Described {
  name: string;
  type: string;
  kind: ColumnKind;
}

export async function profileTable(engine: TableEngine, table: LoadedTable): Promise<TableProfile> {
  const rel = ident(table.name);
  // The relation's own types: a declared schema may say INT where DuckDB says INTEGER.
  const cols: Described[] = (
    await engine.all<{ column_name: string; column_type: string }>(
      `SELECT column_name, column_type FROM (DESCRIBE ${rel})`,
    )
  ).map((d) => ({
    name: d.column_name,
    type: d.column_type,
    kind: columnKind(d.column_type),
  }));

  const aggs = profileAggregates(cols, table.rows);
  const [main] = await engine.all<Record<string, unknown>>(`SELECT ${aggs.join(', ')} FROM ${rel}`);
  const m = main ?? {};
  const rows = Number(m.rows ?? 0);
  const profiles = cols.map((c, i) => columnProfile(c, i, m, rows));

  await countValues(engine, rel, cols, profiles);
  await countBins(engine, rel, cols, profiles);
  return { format: 'cairn.profile/v1', rows, columns: profiles };
}

/** The select list of the one pass over the table; column i's results are named with suffix i. */
function profileAggregates(cols: readonly Described[], tableRows: number): string[] {
  const aggs = ['count(*) AS "rows"'];
  const quantile = tableRows <= EXACT_QUANTILES_UPTO ? 'quantile_disc' : 'approx_quantile';
  cols.forEach((c, i) => {
    const x = ident(c.name);
    aggs.push(`count(${x}) AS "n${i}"`);
    if (!isScalarType(c.type)) return;
    aggs.push(`approx_count_distinct(${x}) AS "d${i}"`);
    // NaN and ±Infinity would turn min, max, mean and quantiles into nothing useful (DuckDB sorts
    // NaN above everything); they are counted apart and the statistics describe the rest.
    const finite = isFloatType(c.type) ? ` FILTER (WHERE isfinite(${x}))` : '';
    if (finite) aggs.push(`count(*) FILTER (WHERE NOT isfinite(${x})) AS "nf${i}"`);
    if (c.kind === 'numeric' || c.kind === 'boolean')
      aggs.push(`min(${x})${finite} AS "lo${i}"`, `max(${x})${finite} AS "hi${i}"`);
    else aggs.push(`CAST(min(${x}) AS VARCHAR) AS "lo${i}"`, `CAST(max(${x}) AS VARCHAR) AS "hi${i}"`);
    if (c.kind === 'numeric') {
      aggs.push(
        `avg(${x})${finite} AS "mean${i}"`,
        `stddev_samp(${x})${finite} AS "sd${i}"`,
        `CAST(${quantile}(${x}, [${SKETCH_AT.join(', ')}])${finite} AS DOUBLE[]) AS "q${i}"`,
      );
    } else if (c.kind === 'temporal') {
      aggs.push(`CAST(${quantile}(${x}, [${QUANTILE_AT.join(', ')}]) AS VARCHAR[]) AS "q${i}"`);
    }
  });
  return aggs;
}

function columnProfile(c: Described, i: number, m: Record<string, unknown>, rows: number): ColumnProfile {
  const count = Number(m[`n${i}`] ?? 0);
  const p: ColumnProfile = {
    name: c.name,
    type: c.type,
    kind: c.kind,
    count,
    nulls: rows - count,
    distinct: 0,
    distinctExact: count === 0,
    top: [],
  };
  if (!isScalarType(c.type) || count === 0) return p;
  // HyperLogLog can overshoot on tiny columns; it never may exceed the values present.
  p.distinct = Math.min(Number(m[`d${i}`] ?? 0), count);
  p.min = m[`lo${i}`] ?? null;
  p.max = m[`hi${i}`] ?? null;
  if (c.kind === 'numeric') numericProfile(p, i, m);
  else if (c.kind === 'temporal') p.quantiles = quantiles((m[`q${i}`] as unknown[] | null) ?? []);
  return p;
}

function numericProfile(p: ColumnProfile, i: number, m: Record<string, unknown>): void {
  if (Number(m[`nf${i}`] ?? 0) > 0) p.nonFinite = Number(m[`nf${i}`]);
  p.mean = (m[`mean${i}`] as number | null) ?? null;
  p.stddev = (m[`sd${i}`] as number | null) ?? null;
  const q = (m[`q${i}`] as Array<number | null> | null) ?? [];
  p.quantiles = quantiles(QUANTILE_AT.map((at) => q[SKETCH_AT.indexOf(at)] ?? null));
  const lo = typeof p.min === 'number' ? p.min : Number.NaN;
  const hi = typeof p.max === 'number' ? p.max : Number.NaN;
  if (Number.isFinite(lo) && Number.isFinite(hi)) {
    const inner = EDGE_AT.map((at) => q[SKETCH_AT.indexOf(at)]).filter(
      (e): e is number => typeof e === 'number' && e > lo && e < hi,
    );
    p.histogram = { edges: [lo, ...[...new Set(inner)].sort((a, b) => a - b), hi], counts: [] };
  }
}

function quantiles(values: readonly unknown[]): Quantiles {
  return Object.fromEntries(QUANTILE_NAMES.map((n, i) => [n, values[i] ?? null])) as unknown as Quantiles;
}

/**
 * Exact distinct counts, top values and frequency tables in one GROUPING SETS pass (one hash
 * table per column). Near-unique columns are grouped only when they may be keys (integers,
 * text), so that `distinct == count` is exact for them; continuous ones (floats, timestamps)
 * keep the estimate, as grouping millions of distinct values is the expensive part.
 */
async function countValues(
  engine: TableEngine,
  rel: string,
  cols: Described[],
  profiles: ColumnProfile[],
): Promise<void> {
  const keys: Array<{ column: number; all: boolean; top: boolean }> = [];
  profiles.forEach((p, i) => {
    const c = cols[i]!;
    if (!isScalarType(c.type) || p.count === 0) return;
    const nearUnique = p.distinct >= NEAR_UNIQUE * p.count && p.distinct >= EXACT_DISTINCT_BELOW;
    const keyLike = isIntegerType(c.type) || c.kind === 'text';
    if (nearUnique && !keyLike) return;
    keys.push({ column: i, all: p.distinct < EXACT_DISTINCT_BELOW, top: !nearUnique });
  });
  for (let start = 0; start < keys.length; start += KEYS_PER_SCAN) {
    const chunk = keys.slice(start, start + KEYS_PER_SCAN);
    const k = chunk.map((_, j) => `k${j}`);
    // Within one grouping set every other key is NULL, so a group's one non-null key names its
    // set; each set's own NULL group (no non-null key) is dropped.
    const setOf = `CASE ${k.map((x, j) => `WHEN ${x} IS NOT NULL THEN ${j}`).join(' ')} END`;
    const all = chunk.flatMap((key, j) => (key.all ? [j] : []));
    const outs = ['s', 'count(*) AS "groups"'];
    if (all.length)
      outs.push(
        `list({'t': coalesce(${all.map((j) => `CAST(k${j} AS VARCHAR)`).join(', ')}), 'n': n}) FILTER (WHERE s IN (${all.join(', ')})) AS "vals"`,
      );
    chunk.forEach((key, j) => {
      // Ties broken by hash, not by arrival, so the same data always lists the same values.
      if (!key.all && key.top)
        outs.push(
          `CAST(max_by({'t': k${j}, 'n': n}, {'n': n, 'h': hash(k${j})}, ${TOP}) FILTER (WHERE s = ${j}) AS STRUCT(t VARCHAR, n BIGINT)[]) AS "top${j}"`,
        );
    });
    const sql = `SELECT ${outs.join(', ')} FROM (
        SELECT ${setOf} AS s, ${k.join(', ')}, count(*) AS n
        FROM (SELECT ${chunk.map((key, j) => `${ident(cols[key.column]!.name)} AS k${j}`).join(', ')} FROM ${rel})
        GROUP BY GROUPING SETS (${k.map((x) => `(${x})`).join(', ')})
      ) WHERE s IS NOT NULL GROUP BY s`;
    const out = await engine.all<Record<string, unknown>>(sql);
    for (const r of out) {
      const j = Number(r.s);
      const key = chunk[j]!;
      const p = profiles[key.column]!;
      const found = ((key.all ? r.vals : r[`top${j}`]) as Array<{ t: string; n: number }> | null) ?? [];
      const ordered = found
        .map((v) => ({ t: String(v.t), n: Number(v.n) }))
        .sort((a, b) => b.n - a.n || valueOrder(a.t, b.t, p.kind));
      p.distinct = Number(r.groups);
      p.distinctExact = true;
      if (key.top) p.top = ordered.slice(0, TOP).map((v) => ({ value: typedValue(v.t, p), count: v.n }));
      if (key.all && p.distinct <= FREQUENCY_CAP) p.frequencies = ordered.map((v) => ({ value: v.t, count: v.n }));
    }
  }
}

async function countBins(
  engine: TableEngine,
  rel: string,
  cols: Described[],
  profiles: ColumnProfile[],
): Promise<void> {
  const withBins = profiles.flatMap((p, i) => (p.histogram ? [i] : []));
  if (!withBins.length) return;
  const [r] = await engine.all<Record<string, unknown>>(
    `SELECT ${withBins.map((i) => `${histogramSql(ident(cols[i]!.name), cols[i]!.type, profiles[i]!.histogram!.edges)} AS "h${i}"`).join(', ')} FROM ${rel}`,
  );
  for (const i of withBins) {
    const h = profiles[i]!.histogram!;
    h.counts = histogramCounts(r?.[`h${i}`], h.edges);
  }
}
