import { CairnError } from '../../core/errors.js';
import { ident, lit, type TableEngine } from '../tables/engine.js';
import {
  crossSplitNearDuplicates,
  DEFAULT_MAX_TEXTS,
  NEAR_DUPLICATE_THRESHOLD,
  nearDuplicateFinding,
  type TextItem,
} from './near-duplicates.js';
import {
  LEAKAGE_SEVERITY,
  leakageReport,
  SAMPLE_SIZE,
  type LeakageFinding,
  type LeakageKind,
  type LeakageReport,
} from './report.js';

export interface TableLeakageOptions {
  /** Report key values found in more than one split. */
  key?: string[];
  /** Report group values found in more than one split. */
  group?: string;
  /** Report rows of a later split that are not strictly after every row of an earlier one. */
  time?: string;
  /** Compare this text column across splits with MinHash. */
  text?: string;
  /** Distinct texts compared per split at most (default 20,000): a deterministic sample by MD5 of the text. */
  maxTexts?: number;
  /** Jaccard similarity from which texts count as near-duplicates (default 0.8). */
  threshold?: number;
}

/** One split to check: a relation (table, view) or a Parquet file. */
export type SplitRelation = { name: string; relation: string } | { name: string; file: string };

/** The splits as one relation with an integer split column (0 = first split), as splitTable has it. */
export interface CombinedSplits {
  relation: string;
  splitColumn: string;
  names: string[];
  columns: Array<{ name: string; type: string }>;
  /**
   * A column already holding a hash of the whole row (splitTable's position when the key is
   * every column), used to find duplicate candidates instead of hashing every row again.
   */
  rowHash?: string;
}

let serial = 0;

/** Checks split relations or files for leakage between them, in the order given (train before test). */
export async function tableLeakage(
  engine: TableEngine,
  splits: readonly SplitRelation[],
  opts: TableLeakageOptions = {},
): Promise<LeakageReport> {
  if (splits.length < 2 || splits.length > 63)
    throw new CairnError('USAGE', 'a leakage check needs 2 to 63 splits', { data: { splits: splits.length } });
  const view = `__cairn_leak_${++serial}`;
  const splitColumn = '__cairn_leak_split';
  const parts = splits.map(
    (s, i) =>
      `SELECT ${i} AS ${ident(splitColumn)}, * FROM ${'file' in s ? `read_parquet(${lit(s.file)})` : s.relation}`,
  );
  await engine.run(`CREATE OR REPLACE TEMP VIEW ${ident(view)} AS ${parts.join(' UNION ALL BY NAME ')}`);
  try {
    const desc = await engine.all<{ column_name: string; column_type: string }>(
      `SELECT column_name, column_type FROM (DESCRIBE ${ident(view)})`,
    );
    const columns = desc
      .filter((d) => d.column_name !== splitColumn)
      .map((d) => ({ name: d.column_name, type: d.column_type }));
    return await combinedLeakage(
      engine,
      { relation: ident(view), splitColumn, names: splits.map((s) => s.name), columns },
      opts,
    );
  } finally {
    await engine.run(`DROP VIEW IF EXISTS ${ident(view)}`);
  }
}

export async function combinedLeakage(
  engine: TableEngine,
  src: CombinedSplits,
  opts: TableLeakageOptions = {},
): Promise<LeakageReport> {
  const names = src.columns.map((c) => c.name);
  for (const [what, cols] of [
    ['key', opts.key ?? []],
    ['group', opts.group ? [opts.group] : []],
    ['time', opts.time ? [opts.time] : []],
    ['text', opts.text ? [opts.text] : []],
  ] as const) {
    for (const c of cols) {
      if (!names.includes(c)) {
        throw new CairnError('INVALID_INPUT', `the ${what} column ${JSON.stringify(c)} is not in the table`, {
          hint: `columns: ${names.join(', ')}`,
          data: { column: c, columns: names },
        });
      }
    }
  }
  const checked: LeakageKind[] = ['exact-duplicate'];
  const findings: Array<LeakageFinding | null> = [await exactDuplicates(engine, src, [])];
  if (opts.key?.length && opts.key.length < src.columns.length) {
    // Rows that differ only in their key (e.g. the same record under two ids).
    checked.push('content-duplicate');
    findings.push(await exactDuplicates(engine, src, opts.key));
  }
  if (opts.key?.length) {
    checked.push('key-overlap');
    findings.push(await overlap(engine, src, 'key-overlap', opts.key));
  }
  if (opts.group) {
    checked.push('group-overlap');
    findings.push(await overlap(engine, src, 'group-overlap', [opts.group]));
  }
  if (opts.time) {
    checked.push('time-order');
    findings.push(await timeOrder(engine, src, opts.time));
  }
  if (opts.text) {
    checked.push('near-duplicate');
    findings.push(
      await nearDuplicateTexts(
        engine,
        src,
        opts.text,
        opts.maxTexts ?? DEFAULT_MAX_TEXTS,
        opts.threshold ?? NEAR_DUPLICATE_THRESHOLD,
      ),
    );
  }
  return leakageReport(
    checked,
    findings.filter((f): f is LeakageFinding => f !== null),
  );
}

/** Times and other values JSON cannot carry exactly are shown as DuckDB writes them. */
function shown(src: CombinedSplits, column: string, qualifier = ''): string {
  const type = src.columns.find((c) => c.name === column)?.type ?? 'VARCHAR';
  const ref = `${qualifier}${ident(column)}`;
  return /^(DATE|TIME|TIMESTAMP|INTERVAL|HUGEINT|UHUGEINT|UBIGINT|DECIMAL|BLOB|UUID)/i.test(type)
    ? `CAST(${ref} AS VARCHAR)`
    : ref;
}

/**
 * The splits a group of rows is in, as a bit set: a cheap aggregate even over millions of
 * groups (a list per group is not), good for up to 63 splits.
 */
function splitBits(s: string): string {
  return `bit_or(1::BIGINT << ${s})`;
}

function splitNames(src: CombinedSplits, bits: unknown): string[] {
  const b = BigInt(String(bits ?? 0));
  return src.names.filter((_, i) => (b >> BigInt(i)) & 1n);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Identical rows in more than one split. Rows are bucketed by a 64-bit hash of every column
 * first (cheap, and the hash table stays small), then candidates are compared value by value,
 * so a hash collision can never be reported as a duplicate. With `exclude` (the key columns)
 * it finds content-duplicates: equal rows apart from the key, under at least two different
 * keys, so that a plain exact duplicate is not reported twice.
 */
async function exactDuplicates(
  engine: TableEngine,
  src: CombinedSplits,
  exclude: readonly string[],
): Promise<LeakageFinding | null> {
  const s = ident(src.splitColumn);
  const compared = src.columns.filter((c) => !exclude.includes(c.name));
  if (compared.length === 0) return null;
  const cols = compared.map((c) => ident(c.name));
  const hash = src.rowHash && exclude.length === 0 ? ident(src.rowHash) : `hash(${cols.join(', ')})`;
  const keyHash = exclude.length ? `hash(${exclude.map(ident).join(', ')})` : null;
  const having = `min(${s}) <> max(${s})${keyHash ? ` AND min(${keyHash}) <> max(${keyHash})` : ''}`;
  const cand = `__cairn_leak_dup_${++serial}`;
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${ident(cand)} AS SELECT ${hash} AS h FROM ${src.relation} GROUP BY h HAVING ${having}`,
  );
  try {
    const [{ n }] = (await engine.all<{ n: number }>(`SELECT count(*) AS n FROM ${ident(cand)}`)) as [{ n: number }];
    if (Number(n) === 0) return null;
    const rows = await engine.all<Record<string, unknown>>(
      `SELECT ${compared.map((c) => `${shown(src, c.name)} AS ${ident(c.name)}`).join(', ')}, ${splitBits(s)} AS __splits, count(*) AS __rows,
              count(*) OVER () AS __total, sum(count(*)) OVER () AS __total_rows
         FROM ${src.relation} WHERE ${hash} IN (SELECT h FROM ${ident(cand)})
        GROUP BY ${cols.join(', ')} HAVING ${having}
        ORDER BY ${cols.map((_, i) => i + 1).join(', ')} NULLS LAST LIMIT ${SAMPLE_SIZE}`,
    );
    if (rows.length === 0) return null;
    const total = Number(rows[0]!.__total);
    const totalRows = Number(rows[0]!.__total_rows);
    const kind = exclude.length ? 'content-duplicate' : 'exact-duplicate';
    return {
      kind,
      severity: LEAKAGE_SEVERITY[kind],
      count: total,
      sample: rows.map(({ __splits, __rows, __total: _t, __total_rows: _r, ...row }) => ({
        row,
        splits: splitNames(src, __splits),
        rows: Number(__rows),
      })),
      message: `${plural(total, 'distinct row')} (${plural(totalRows, 'row')} in all) ${total === 1 ? 'appears' : 'appear'} in more than one split${exclude.length ? ` (compared without the key ${exclude.join(', ')})` : ''}`,
      details: { rows: totalRows },
    };
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${ident(cand)}`);
  }
}

/** Key (or group) values present in more than one split. NULL is a value like any other here. */
async function overlap(
  engine: TableEngine,
  src: CombinedSplits,
  kind: 'key-overlap' | 'group-overlap',
  columns: readonly string[],
): Promise<LeakageFinding | null> {
  const s = ident(src.splitColumn);
  const cols = columns.map(ident);
  const rows = await engine.all<Record<string, unknown>>(
    `SELECT ${columns.map((c) => `${shown(src, c)} AS ${ident(c)}`).join(', ')}, ${splitBits(s)} AS __splits, count(*) AS __rows,
            count(*) OVER () AS __total, sum(count(*)) OVER () AS __total_rows
       FROM ${src.relation} GROUP BY ${cols.join(', ')} HAVING min(${s}) <> max(${s})
      ORDER BY ${cols.map((_, i) => i + 1).join(', ')} NULLS LAST LIMIT ${SAMPLE_SIZE}`,
  );
  if (rows.length === 0) return null;
  const total = Number(rows[0]!.__total);
  const what =
    kind === 'key-overlap'
      ? columns.length === 1
        ? `key ${columns[0]}`
        : `key (${columns.join(', ')})`
      : `group ${columns[0]}`;
  return {
    kind,
    severity: LEAKAGE_SEVERITY[kind],
    count: total,
    sample: rows.map(({ __splits, __rows, __total: _t, __total_rows: _r, ...value }) => ({
      value,
      splits: splitNames(src, __splits),
      rows: Number(__rows),
    })),
    message: `${plural(total, `value of ${what}`, `values of ${what}`)} appear in more than one split (${plural(Number(rows[0]!.__total_rows), 'row')})`,
    details: { rows: Number(rows[0]!.__total_rows) },
  };
}

/**
 * Every row of a later split must be strictly after every row of every earlier split. Rows
 * with no time are left out of the comparison (and counted).
 */
async function timeOrder(engine: TableEngine, src: CombinedSplits, time: string): Promise<LeakageFinding | null> {
  const s = ident(src.splitColumn);
  const t = ident(time);
  const ranges = await engine.all<{ s: number; lo: string | null; hi: string | null; rows: number; nulls: number }>(
    `SELECT ${s} AS s, CAST(min(${t}) AS VARCHAR) AS lo, CAST(max(${t}) AS VARCHAR) AS hi, count(${t}) AS rows, count(*) - count(${t}) AS nulls FROM ${src.relation} GROUP BY ${s} ORDER BY ${s}`,
  );
  const bounds = `WITH m AS (SELECT ${s} AS s, max(${t}) AS hi FROM ${src.relation} GROUP BY ${s}),
    b AS (SELECT s, max(hi) OVER (ORDER BY s ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM m)`;
  const [{ n }] = (await engine.all<{ n: number }>(
    `${bounds} SELECT count(*) AS n FROM ${src.relation} r JOIN b ON r.${s} = b.s WHERE r.${t} <= b.before`,
  )) as [{ n: number }];
  const details = {
    ranges: Object.fromEntries(
      ranges.map((r) => [
        src.names[Number(r.s)] ?? String(r.s),
        { min: r.lo, max: r.hi, rows: Number(r.rows), nullTimes: Number(r.nulls) },
      ]),
    ),
  };
  if (Number(n) === 0) return null;
  const sample = await engine.all<Record<string, unknown>>(
    `${bounds} SELECT r.${s} AS __split, ${shown(src, time, 'r.')} AS time, CAST(b.before AS VARCHAR) AS earlier_max
       FROM ${src.relation} r JOIN b ON r.${s} = b.s WHERE r.${t} <= b.before ORDER BY r.${t}, r.${s} LIMIT ${SAMPLE_SIZE}`,
  );
  const worst = sample[0];
  const span = worst
    ? ` (earliest: a ${src.names[Number(worst.__split)]} row at ${String(worst.time)}, while an earlier split reaches ${String(worst.earlier_max)})`
    : '';
  return {
    kind: 'time-order',
    severity: LEAKAGE_SEVERITY['time-order'],
    count: Number(n),
    sample: sample.map(({ __split, ...rest }) => ({ split: src.names[Number(__split)], ...rest })),
    message: `${plural(Number(n), 'row')} of later splits are not strictly after every row of an earlier split by ${time}${span}`,
    details,
  };
}

async function nearDuplicateTexts(
  engine: TableEngine,
  src: CombinedSplits,
  column: string,
  maxTexts: number,
  threshold: number,
): Promise<LeakageFinding | null> {
  const s = ident(src.splitColumn);
  const c = `CAST(${ident(column)} AS VARCHAR)`;
  const bySplit = new Map<string, TextItem[]>();
  const compared: Record<string, { texts: number; compared: number }> = {};
  for (const [i, name] of src.names.entries()) {
    const rows = await engine.all<{ text: string; total: number }>(
      `SELECT text, count(*) OVER () AS total FROM (SELECT DISTINCT ${c} AS text FROM ${src.relation} WHERE ${s} = ${i} AND ${ident(column)} IS NOT NULL) ORDER BY md5(text), text LIMIT ${Math.max(0, Math.floor(maxTexts))}`,
    );
    bySplit.set(
      name,
      rows.map((r, k) => ({ id: String(k), text: r.text })),
    );
    compared[name] = { texts: Number(rows[0]?.total ?? 0), compared: rows.length };
  }
  const pairs = crossSplitNearDuplicates(bySplit, threshold);
  const describe = (split: string, id: string) => excerpt(bySplit.get(split)?.[Number(id)]?.text ?? '');
  return nearDuplicateFinding(pairs, describe, { column, threshold, maxTexts, splits: compared });
}

export function excerpt(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
