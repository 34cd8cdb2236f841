import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError, ioError } from '../../core/errors.js';
import { combinedLeakage } from '../leakage/table-leakage.js';
import { ident, lit, type TableEngine } from '../tables/engine.js';
import type { LoadedTable } from '../tables/load.js';
import { checkRatios, cumulativeCounts, largestRemainder, parseRatios, type SplitRatio } from './ratios.js';
import { checkSeed, splitHashIntSql, splitIndexSql } from './position.js';
import { classRatios, splitSummary, type SplitMode, type SplitReport } from './split-report.js';

export interface TableSplitOptions {
  /** `train=0.8,test=0.2`, or already parsed. */
  ratios: SplitRatio[] | string;
  seed?: number;
  /** Columns whose values decide a row's split (default: every column). */
  key?: string[];
  /** Keep this column's class shares equal in every split. */
  stratify?: string;
  /** Hash this column alone, so a group is never split. */
  group?: string;
  /** Split by time: every row of a later split strictly after every row of an earlier one. */
  time?: string;
  /** Time splits: the last time of each split but the last, comma-separated; fixes the split. */
  cutoff?: string;
  /** Also look for near-duplicate texts of this column across splits. */
  text?: string;
  /** Texts compared per split at most, for `text`. */
  maxTexts?: number;
}

export interface TableSplitResult {
  splits: Array<{ name: string; file: string; rows: number }>;
  report: SplitReport;
}

let serial = 0;

/**
 * Splits a table into one Parquet file per split (`<outDir>/<split>.parquet`), by the
 * documented hash (docs/DATAPREP.md), hashing each row once: rows and their hash integers go
 * into a temporary table, a view adds the split index (a comparison of integers), and each
 * split is copied out of it ordered by position, so the files are identical byte for byte on
 * every run. Files appear only when all are written. Leakage is reported, not enforced: the
 * caller decides what an error means.
 */
export async function splitTable(
  engine: TableEngine,
  table: LoadedTable,
  opts: TableSplitOptions,
  outDir: string,
): Promise<TableSplitResult> {
  const plan = planSplit(table, opts);
  const { ratios, mode, explicitKey, V, S, work, userCols } = plan;
  const made: Made = [];
  try {
    const cutoffs = await assignSplits(engine, plan, opts, made);
    const { rows, report } = await splitReport(engine, plan, opts, cutoffs);
    // Equal positions mean equal keys; with the whole row as key those rows are identical,
    // otherwise a hash of the whole row breaks the tie (far cheaper to sort by than every
    // column), so the order never depends on threads.
    const rowTie = `hash(${userCols})`;
    const order = mode === 'time' ? [ident(opts.time!), rowTie] : explicitKey ? [ident(V), rowTie] : [ident(V)];
    const files = await writeSplits(
      engine,
      outDir,
      ratios,
      (i) => `SELECT ${userCols} FROM ${ident(work)} WHERE ${ident(S)} = ${i} ORDER BY ${order.join(', ')}`,
    );
    return { splits: ratios.map((r, i) => ({ name: r.name, file: files[i]!, rows: rows[i]! })), report };
  } finally {
    for (const [kind, name] of made.reverse())
      await engine.run(`DROP ${kind} IF EXISTS ${ident(name)}`).catch(() => {});
  }
}

/** Checks the options and names the relations and columns a split works with (nothing is run). */
function planSplit(table: LoadedTable, opts: TableSplitOptions) {
  const ratios = typeof opts.ratios === 'string' ? parseRatios(opts.ratios) : (checkRatios(opts.ratios), opts.ratios);
  const seed = checkSeed(opts.seed ?? 0);
  const columns = table.columns.map((c) => ({ name: c.name, type: c.type }));
  const names = columns.map((c) => c.name);
  const mode = checkOptions(opts, names);
  // Helper columns must not collide with the user's, case-insensitively as DuckDB compares them.
  const fresh = (base: string) => {
    let n = `__cairn_${base}`;
    while (names.some((x) => x.toLowerCase() === n)) n = `_${n}`;
    return n;
  };
  const id = ++serial;
  const explicitKey = opts.group ? [opts.group] : opts.key;
  return {
    ratios,
    seed,
    columns,
    mode,
    V: fresh('v'),
    S: fresh('s'),
    pos: `__cairn_split_pos_${id}`,
    work: `__cairn_split_${id}`,
    rel: ident(table.name),
    userCols: names.map(ident).join(', '),
    explicitKey,
    keyCols: explicitKey ?? names,
  };
}

type SplitPlan = ReturnType<typeof planSplit>;

/** Makes `work`: the rows with their split index in column S. Returns a time split's cutoffs. */
async function assignSplits(
  engine: TableEngine,
  plan: SplitPlan,
  opts: TableSplitOptions,
  made: Made,
): Promise<Array<string | null> | undefined> {
  const { ratios, seed, mode, V, S, pos, work, rel, keyCols, columns } = plan;
  if (mode === 'time') {
    return timeSplit(engine, {
      rel,
      work,
      made,
      time: opts.time!,
      type: columns.find((c) => c.name === opts.time)!.type,
      cutoff: opts.cutoff,
      ratios,
      S,
    });
  }
  made.push(['TABLE', pos]);
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${ident(pos)} AS SELECT *, ${splitHashIntSql(seed, keyCols)} AS ${ident(V)} FROM ${rel}`,
  );
  made.push(['VIEW', work]);
  if (mode === 'stratified') {
    await stratify(engine, { pos, work, made, cls: opts.stratify!, ratios, V, S });
  } else {
    await engine.run(
      `CREATE OR REPLACE TEMP VIEW ${ident(work)} AS SELECT *, ${splitIndexSql(ident(V), ratios)} AS ${ident(S)} FROM ${ident(pos)}`,
    );
  }
  return undefined;
}

async function splitReport(
  engine: TableEngine,
  plan: SplitPlan,
  opts: TableSplitOptions,
  cutoffs: Array<string | null> | undefined,
): Promise<{ rows: number[]; report: SplitReport }> {
  const { ratios, seed, mode, columns, explicitKey, V, S, work } = plan;
  const counts = await engine.all<{ s: number; n: number }>(
    `SELECT ${ident(S)} AS s, count(*) AS n FROM ${ident(work)} GROUP BY 1`,
  );
  const rows = ratios.map((_, i) => Number(counts.find((c) => Number(c.s) === i)?.n ?? 0));
  const report: SplitReport = {
    format: 'cairn.split/v1',
    kind: 'table',
    mode,
    options: {
      ratios,
      seed,
      key: opts.key ?? null,
      stratify: opts.stratify ?? null,
      group: opts.group ?? null,
      time: opts.time ?? null,
      cutoff: opts.cutoff ?? null,
    },
    rows: rows.reduce((a, b) => a + b, 0),
    splits: splitSummary(ratios, rows),
    ...(cutoffs ? { cutoffs } : {}),
    leakage: { ok: true, checked: [], findings: [] },
  };
  if (mode === 'stratified') {
    const byClass = await engine.all<{ cls: string | null; s: number; n: number }>(
      `SELECT CAST(${ident(opts.stratify!)} AS VARCHAR) AS cls, ${ident(S)} AS s, count(*) AS n FROM ${ident(work)} GROUP BY ${ident(opts.stratify!)}, ${ident(S)}`,
    );
    report.classes = classRatios(
      opts.stratify!,
      ratios.map((r) => r.name),
      byClass.map((c) => ({ cls: c.cls, split: Number(c.s), n: Number(c.n) })),
    );
  }
  report.leakage = await combinedLeakage(
    engine,
    // With every column as key the hash integer is a hash of the whole row: duplicate
    // candidates are found by it instead of by hashing each row again.
    {
      relation: ident(work),
      splitColumn: S,
      names: ratios.map((r) => r.name),
      columns,
      ...(mode !== 'time' && !explicitKey ? { rowHash: V } : {}),
    },
    {
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.group ? { group: opts.group } : {}),
      ...(opts.time ? { time: opts.time } : {}),
      ...(opts.text ? { text: opts.text } : {}),
      ...(opts.maxTexts !== undefined ? { maxTexts: opts.maxTexts } : {}),
    },
  );
  return { rows, report };
}

type Made = Array<['TABLE' | 'VIEW', string]>;

function checkOptions(opts: TableSplitOptions, names: readonly string[]): SplitMode {
  const usage = (message: string) =>
    new CairnError('USAGE', message, {
      hint: 'use --group, --stratify or --time alone (--key combines with --stratify)',
    });
  if (opts.group && opts.stratify) throw usage('a split cannot be both grouped and stratified');
  if (opts.group && opts.key) throw usage('--group is the key of a grouped split; drop --key');
  if (opts.time && (opts.group || opts.stratify)) throw usage('a time split cannot also be grouped or stratified');
  if (opts.cutoff !== undefined && !opts.time) throw usage('--cutoff needs --time');
  if (opts.key && opts.key.length === 0) throw usage('--key needs at least one column');
  const used: Array<[string, string]> = [
    ...(opts.key ?? []).map((c): [string, string] => ['key', c]),
    ...(['stratify', 'group', 'time', 'text'] as const)
      .filter((k) => opts[k] !== undefined)
      .map((k): [string, string] => [k, opts[k]!]),
  ];
  for (const [what, c] of used) {
    if (!names.includes(c)) {
      throw new CairnError('INVALID_INPUT', `the ${what} column ${JSON.stringify(c)} is not in the table`, {
        hint: `columns: ${names.join(', ')}`,
        data: { option: what, column: c, columns: names },
      });
    }
  }
  return opts.time ? 'time' : opts.stratify ? 'stratified' : opts.group ? 'group' : 'hash';
}

/**
 * Per class, rows ordered by position take ranks (the number of rows of the class before
 * them, so equal positions share a rank and equal keys stay together), and rank r goes to the
 * first split whose cumulative largest-remainder quota exceeds r. Rank r < b holds exactly
 * when the position is at most the b-th smallest of the class, so each class needs only its
 * b-th smallest positions as thresholds: one sort over (class, position) pairs, never over
 * whole rows, then a join with one small row per class.
 */
async function stratify(
  engine: TableEngine,
  a: { pos: string; work: string; made: Made; cls: string; ratios: SplitRatio[]; V: string; S: string },
): Promise<void> {
  const classes = `${a.work}_classes`;
  const wanted = `${a.work}_wanted`;
  const thresholds = `${a.work}_thresholds`;
  a.made.push(['TABLE', classes], ['TABLE', wanted], ['TABLE', thresholds]);
  const cls = ident(a.cls);
  const V = ident(a.V);
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${ident(classes)} AS SELECT ${cls} AS c, count(*) AS n, row_number() OVER (ORDER BY ${cls} NULLS LAST) AS cid FROM ${ident(a.pos)} GROUP BY ${cls}`,
  );
  const sizes = await engine.all<{ cid: number; n: number }>(`SELECT cid, n FROM ${ident(classes)} ORDER BY cid`);
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${ident(wanted)} (cid BIGINT, i INTEGER, b BIGINT)`);
  const rows = sizes.flatMap((s) =>
    cumulativeCounts(largestRemainder(Number(s.n), a.ratios))
      .slice(0, -1)
      .flatMap((b, i) => (b > 0 ? [`(${Number(s.cid)}, ${i}, ${b})`] : [])),
  );
  for (let i = 0; i < rows.length; i += 1000)
    await engine.run(`INSERT INTO ${ident(wanted)} VALUES ${rows.slice(i, i + 1000).join(', ')}`);
  const cuts = a.ratios.slice(0, -1).map((_, i) => `max(r.v) FILTER (WHERE w.i = ${i}) AS t${i}`);
  await engine.run(
    `CREATE OR REPLACE TEMP TABLE ${ident(thresholds)} AS
     SELECT k.c, ${cuts.join(', ')}
       FROM (SELECT ${cls} AS c, ${V} AS v, row_number() OVER (PARTITION BY ${cls} ORDER BY ${V}) AS rn FROM ${ident(a.pos)}) r
       JOIN ${ident(classes)} k ON r.c IS NOT DISTINCT FROM k.c
       JOIN ${ident(wanted)} w ON w.cid = k.cid AND w.b = r.rn
      GROUP BY k.c`,
  );
  const arms = a.ratios.slice(0, -1).map((_, i) => `WHEN p.${V} <= k.t${i} THEN ${i}`);
  // A class whose every quota but the last is zero has no thresholds row: it all goes last.
  await engine.run(
    `CREATE OR REPLACE TEMP VIEW ${ident(a.work)} AS
     SELECT p.*, CASE ${arms.join(' ')} ELSE ${a.ratios.length - 1} END AS ${ident(a.S)}
       FROM ${ident(a.pos)} p LEFT JOIN ${ident(thresholds)} k ON p.${cls} IS NOT DISTINCT FROM k.c`,
  );
}

/**
 * Time splits: split i takes the rows up to its cut-off (and after the previous one). Computed
 * cut-offs are the times of the rows at the cumulative largest-remainder quotas in time order,
 * so rows sharing a cut-off time stay in the earlier split.
 */
async function timeSplit(
  engine: TableEngine,
  a: {
    rel: string;
    work: string;
    made: Made;
    time: string;
    type: string;
    cutoff: string | undefined;
    ratios: SplitRatio[];
    S: string;
  },
): Promise<Array<string | null>> {
  const t = ident(a.time);
  const [{ n, nulls }] = (await engine.all<{ n: number; nulls: number }>(
    `SELECT count(${t}) AS n, count(*) - count(${t}) AS nulls FROM ${a.rel}`,
  )) as [{ n: number; nulls: number }];
  if (Number(nulls) > 0) {
    throw new CairnError(
      'INVALID_INPUT',
      `${Number(nulls)} rows have no ${a.time}, so they cannot be placed in time order`,
      {
        hint: `drop them (a drop_null step on ${a.time}) or fill them (fill_null) with data clean first`,
        data: { column: a.time, nulls: Number(nulls) },
      },
    );
  }
  let cutoffs: Array<string | null>;
  if (a.cutoff !== undefined) {
    const given = a.cutoff.split(',').map((c) => c.trim());
    if (given.length !== a.ratios.length - 1 || given.some((g) => g === '')) {
      throw new CairnError(
        'USAGE',
        `--cutoff needs ${a.ratios.length - 1} time${a.ratios.length === 2 ? '' : 's'} (one fewer than the splits), comma-separated`,
        { data: { cutoff: a.cutoff } },
      );
    }
    const [{ v: parsed }] = (await engine.all<{ v: Array<string | null> }>(
      `SELECT [${given.map((g) => `CAST(TRY_CAST(${lit(g)} AS ${a.type}) AS VARCHAR)`).join(', ')}] AS v`,
    )) as [{ v: Array<string | null> }];
    const bad = given.find((_, i) => parsed[i] === null);
    if (bad !== undefined)
      throw new CairnError('USAGE', `--cutoff ${JSON.stringify(bad)} is not a ${a.type} like the values of ${a.time}`, {
        data: { cutoff: bad, type: a.type },
      });
    cutoffs = parsed;
    const [{ sorted }] = (await engine.all<{ sorted: boolean }>(
      `SELECT bool_and(x <= y) IS NOT FALSE AS sorted FROM (SELECT CAST(v AS ${a.type}) AS x, lead(CAST(v AS ${a.type})) OVER (ORDER BY i) AS y FROM (VALUES ${cutoffs.map((c, i) => `(${i}, ${lit(c!)})`).join(', ')}) AS q(i, v)) WHERE y IS NOT NULL`,
    )) as [{ sorted: boolean }];
    if (!sorted)
      throw new CairnError('USAGE', `the --cutoff times must not decrease: ${a.cutoff}`, {
        data: { cutoff: a.cutoff },
      });
  } else {
    const bounds = cumulativeCounts(largestRemainder(Number(n), a.ratios)).slice(0, -1);
    const wanted = [...new Set(bounds.filter((b) => b > 0))];
    const at = wanted.length
      ? await engine.all<{ rn: number; v: string }>(
          `SELECT rn, CAST(${t} AS VARCHAR) AS v FROM (SELECT ${t}, row_number() OVER (ORDER BY ${t}) AS rn FROM ${a.rel}) WHERE rn IN (${wanted.join(', ')})`,
        )
      : [];
    cutoffs = bounds.map((b) => at.find((r) => Number(r.rn) === b)?.v ?? null);
  }
  const arms = cutoffs
    .map((c, i) => (c === null ? '' : `WHEN ${t} <= CAST(${lit(c)} AS ${a.type}) THEN ${i}`))
    .filter(Boolean);
  const index = arms.length ? `CASE ${arms.join(' ')} ELSE ${a.ratios.length - 1} END` : `${a.ratios.length - 1}`;
  a.made.push(['VIEW', a.work]);
  await engine.run(`CREATE OR REPLACE TEMP VIEW ${ident(a.work)} AS SELECT *, ${index} AS ${ident(a.S)} FROM ${a.rel}`);
  return cutoffs;
}

/** Writes every split under a temporary name first, and renames them only when all are written. */
async function writeSplits(
  engine: TableEngine,
  outDir: string,
  ratios: readonly SplitRatio[],
  query: (i: number) => string,
): Promise<string[]> {
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw ioError(err, 'create', outDir);
  }
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const finals = ratios.map((r) => join(outDir, `${r.name}.parquet`));
  const temps = ratios.map((r) => join(outDir, `.${r.name}.parquet.${tag}.tmp`));
  try {
    for (const [i, tmp] of temps.entries()) await engine.run(`COPY (${query(i)}) TO ${lit(tmp)} (FORMAT parquet)`);
    for (const [i, tmp] of temps.entries()) renameSync(tmp, finals[i]!);
  } catch (err) {
    for (const tmp of temps) rmSync(tmp, { force: true });
    throw err instanceof CairnError ? err : ioError(err, 'write', outDir);
  }
  return finals;
}
