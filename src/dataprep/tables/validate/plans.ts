import type { PiiKind } from '../../pii/patterns.js';
import { piiCountSql } from '../../pii/sql.js';
import type { TableCheck } from '../../spec-files/suite.js';
import { driftAggregates, driftMethod, evaluateDrift, type DriftColumn, type DriftMethod } from '../drift.js';
import { locate } from '../../../core/yaml-doc.js';
import { ident, lit, type TableEngine } from '../engine.js';
import { describeSqlError, isEngineError, offsetInPredicate } from '../engine-error.js';
import type { LoadedTable } from '../load.js';
import { columnKind, doubleLiteral, type ColumnProfile, type TableProfile } from '../profile.js';
import { typeMatches } from './types.js';

/**
 * How each check becomes SQL. A plan contributes aggregates to the suite's one scan (and, for
 * `unique`, a grouping set to one grouping query); `finish` reads their values. `offending` is
 * the predicate of a failing row, used only to fetch a bounded sample once the check failed.
 */
export interface Outcome {
  evaluated: number;
  failed: number;
  message: string;
  details?: Record<string, unknown>;
  /** The check could not be evaluated after all (status error). */
  error?: string;
}

export interface Plan {
  check: TableCheck;
  /** Set when the check cannot run at all (status error). */
  error?: string;
  /** Per-row expressions computed once and shared by aggregates and samples: [alias, SQL]. */
  project?: Array<[string, string]>;
  aggs?: string[];
  /** unique: the key columns. */
  uniqueKey?: string[];
  finish?(values: unknown[], rows: number): Outcome;
  /** SQL predicate (over the relation plus `project`) of an offending row. */
  offending?: string;
  /** A complete sample query from the counted values, when a predicate is not enough (unique). */
  sampleSql?(values: unknown[]): string | undefined;
  /** Columns a sample shows; default every column. */
  sampleColumns?: string[];
  /** PII: sample values are masked. */
  mask?: boolean;
  /**
   * Collect the sample inside the one scan (the 10 smallest offending rows, by min_by) instead
   * of a later query: for predicates that cost more to re-evaluate (regex, PII) than to carry.
   */
  sampleInScan?: boolean;
}

export interface PlanContext {
  engine: TableEngine;
  rel: string;
  table: LoadedTable;
  /** Column → the relation's DuckDB type. */
  types: Map<string, string>;
  /** Declared or loaded type text → DuckDB's canonical name (null: not a type). */
  canonical: Map<string, string | null>;
  reference?: { ref: string; profile: TableProfile };
  /** How many distinct references the suite's drift checks name. */
  driftReferences: number;
  now: Date;
  /** `sql` predicates that do not parse: the suite is invalid. */
  syntaxErrors: string[];
}

const n = (x: number) => x.toLocaleString('en-US');
const count = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;
/** DuckDB's first paragraph; the rest quotes Cairn's own SQL, which says nothing to the user. */
export const firstParagraph = (e: unknown) =>
  String((e as Error)?.message ?? e)
    .split(/\n\s*\nLINE \d+:/)[0]!
    .trim();
const pct = (failed: number, of: number) => (of > 0 ? `${Math.round((failed / of) * 1e4) / 100} %` : '0 %');
const rowsOf = (failed: number, of: number, what: string) =>
  `${n(failed)} of ${n(of)} rows (${pct(failed, of)}) ${what}`;

function missing(ctx: PlanContext, columns: readonly string[]): string | null {
  const absent = columns.filter((c) => !ctx.types.has(c));
  if (!absent.length) return null;
  return `the table has no column ${absent.map((c) => JSON.stringify(c)).join(', ')} (it has ${[...ctx.types.keys()].map((c) => JSON.stringify(c)).join(', ')})`;
}

export async function planCheck(check: TableCheck, ctx: PlanContext, index: number): Promise<Plan> {
  // One planner per kind; the table's type ties each to its own kind, so this call is the only cast.
  const planner = PLANCHECK_BY_KIND[check.kind] as (x: TableCheck, scope: PlanCheckScope) => Plan | Promise<Plan>;
  return planner(check, planCheckScope(check, ctx, index));
}

/** What every kind of check is planned with. */
function planCheckScope(check: TableCheck, ctx: PlanContext, index: number) {
  const err = (error: string): Plan => ({ check, error });
  return { check, ctx, index, err };
}

type PlanCheckScope = ReturnType<typeof planCheckScope>;

const PLANCHECK_BY_KIND: {
  [K in TableCheck['kind']]: (x: Extract<TableCheck, { kind: K }>, scope: PlanCheckScope) => Plan | Promise<Plan>;
} = {
  row_count: planCheckRowCount,
  schema: planCheckSchema,
  not_null: planCheckNotNull,
  unique: planCheckUnique,
  range: planCheckRange,
  allowed: planCheckAllowed,
  regex: planCheckRegex,
  freshness: planCheckFreshness,
  sql: planCheckSql,
  pii: planCheckPii,
  drift: planCheckDrift,
};

function planCheckRowCount(check: Extract<TableCheck, { kind: 'row_count' }>, _scope: PlanCheckScope): Plan {
  return {
    check,
    finish: (_v, rows) => {
      const bad = (check.min !== undefined && rows < check.min) || (check.max !== undefined && rows > check.max);
      const bounds =
        check.min !== undefined && check.max !== undefined
          ? `between ${n(check.min)} and ${n(check.max)}`
          : check.min !== undefined
            ? `at least ${n(check.min)}`
            : check.max !== undefined
              ? `at most ${n(check.max)}`
              : 'any number of';
      return {
        evaluated: 1,
        failed: bad ? 1 : 0,
        message: `${n(rows)} rows; expected ${bounds} rows`,
        details: { rows },
      };
    },
  };
}

function planCheckSchema(check: Extract<TableCheck, { kind: 'schema' }>, scope: PlanCheckScope): Plan {
  const { ctx } = scope;
  return planSchema(check, ctx);
}

function planCheckNotNull(check: Extract<TableCheck, { kind: 'not_null' }>, scope: PlanCheckScope): Plan {
  const { ctx, err } = scope;
  const m = missing(ctx, check.columns);
  if (m) return err(m);
  const offending = check.columns.map((c) => `${ident(c)} IS NULL`).join(' OR ');
  return {
    check,
    offending,
    aggs: [`count(*) FILTER (WHERE ${offending})`],
    finish: ([failed], rows) => ({
      evaluated: rows,
      failed: Number(failed),
      message: rowsOf(Number(failed), rows, `have a NULL in ${check.columns.join(', ')}`),
    }),
  };
}

function planCheckUnique(check: Extract<TableCheck, { kind: 'unique' }>, scope: PlanCheckScope): Plan {
  const { ctx, err } = scope;
  const m = missing(ctx, check.columns);
  if (m) return err(m);
  const key = check.columns.map(ident);
  const others = [...ctx.types.keys()].filter((c) => !check.columns.includes(c)).map(ident);
  return {
    check,
    uniqueKey: check.columns,
    // The grouping pass hands back the first duplicated keys (as text); matching them is a
    // plain filter, where a semi-join would group the whole table a second time.
    sampleSql: ([, , keys]) => {
      const found = (keys as Array<Record<string, string>> | null) ?? [];
      if (!found.length) return undefined;
      const match = found
        .map(
          (k) =>
            `(${check.columns.map((c, j) => `${ident(c)} = CAST(${lit(k[`k${j}`]!)} AS ${ctx.types.get(c)!})`).join(' AND ')})`,
        )
        .join(' OR ');
      return `SELECT * FROM ${ctx.rel} WHERE ${match} ORDER BY ${[...key, ...others].join(', ')} LIMIT 10`;
    },
    finish: ([evaluated, failed]) => ({
      evaluated: Number(evaluated),
      failed: Number(failed),
      message: rowsOf(Number(failed), Number(evaluated), `share their ${check.columns.join(', ')} with another row`),
    }),
  };
}

function planCheckRange(check: Extract<TableCheck, { kind: 'range' }>, scope: PlanCheckScope): Plan {
  const { ctx, err } = scope;
  const m = missing(ctx, [check.column]);
  if (m) return err(m);
  const type = ctx.types.get(check.column)!;
  if (columnKind(type) !== 'numeric')
    return err(`range needs a numeric column; ${JSON.stringify(check.column)} is ${type}`);
  const x = ident(check.column);
  const parts = [
    ...(check.min !== undefined ? [`${x} < ${doubleLiteral(check.min)}`] : []),
    ...(check.max !== undefined ? [`${x} > ${doubleLiteral(check.max)}`] : []),
  ];
  const offending = parts.length ? parts.join(' OR ') : 'false';
  const bounds = `[${check.min ?? '−∞'}, ${check.max ?? '∞'}]`;
  return {
    check,
    offending,
    aggs: [`count(${x})`, `count(*) FILTER (WHERE ${offending})`],
    finish: ([evaluated, failed]) => ({
      evaluated: Number(evaluated),
      failed: Number(failed),
      message: rowsOf(Number(failed), Number(evaluated), `with a value have ${check.column} outside ${bounds}`),
      details: { min: check.min ?? null, max: check.max ?? null },
    }),
  };
}

function planCheckAllowed(check: Extract<TableCheck, { kind: 'allowed' }>, scope: PlanCheckScope): Promise<Plan> {
  const { ctx } = scope;
  return planAllowed(check, ctx);
}

async function planCheckRegex(check: Extract<TableCheck, { kind: 'regex' }>, scope: PlanCheckScope): Promise<Plan> {
  const { ctx, err } = scope;
  const m = missing(ctx, [check.column]);
  if (m) return err(m);
  try {
    await ctx.engine.all(`SELECT regexp_full_match('', ${lit(check.pattern)})`);
  } catch (e) {
    return err(
      `the pattern ${JSON.stringify(check.pattern)} is not valid for DuckDB's RE2 engine (no look-around or back-references): ${firstParagraph(e)}`,
    );
  }
  const x = ident(check.column);
  const offending = `${x} IS NOT NULL AND NOT regexp_full_match(CAST(${x} AS VARCHAR), ${lit(check.pattern)})`;
  return {
    check,
    offending,
    sampleInScan: true,
    aggs: [`count(${x})`, `count(*) FILTER (WHERE ${offending})`],
    finish: ([evaluated, failed]) => ({
      evaluated: Number(evaluated),
      failed: Number(failed),
      message: rowsOf(
        Number(failed),
        Number(evaluated),
        `with a value have ${check.column} not matching ${check.pattern}`,
      ),
    }),
  };
}

function planCheckFreshness(check: Extract<TableCheck, { kind: 'freshness' }>, scope: PlanCheckScope): Plan {
  const { ctx, err } = scope;
  const m = missing(ctx, [check.column]);
  if (m) return err(m);
  const type = ctx.types.get(check.column)!;
  if (columnKind(type) !== 'temporal' || /^TIME( |$)/.test(type))
    return err(`freshness needs a DATE or TIMESTAMP column; ${JSON.stringify(check.column)} is ${type}`);
  const x = ident(check.column);
  return {
    check,
    aggs: [`epoch_ms(max(${x}))`, `CAST(max(${x}) AS VARCHAR)`],
    finish: ([ms, text]) => {
      const limit = ctx.now.getTime() - check.maxAgeMs;
      if (ms === null || ms === undefined)
        return {
          evaluated: 1,
          failed: 1,
          message: `${check.column} has no values, so the data's age is unknown`,
          details: { newest: null },
        };
      const age = ctx.now.getTime() - Number(ms);
      return {
        evaluated: 1,
        failed: Number(ms) < limit ? 1 : 0,
        message: `the newest ${check.column} is ${String(text)}, ${duration(age)} before ${ctx.now.toISOString()}; at most ${duration(check.maxAgeMs)} allowed`,
        details: { newest: text, ageMs: age, maxAgeMs: check.maxAgeMs },
      };
    },
  };
}

function planCheckSql(check: Extract<TableCheck, { kind: 'sql' }>, scope: PlanCheckScope): Promise<Plan> {
  const { ctx } = scope;
  return planSql(check, ctx);
}

function planCheckPii(check: Extract<TableCheck, { kind: 'pii' }>, scope: PlanCheckScope): Plan {
  const { ctx, index, err } = scope;
  const listed =
    check.columns ?? [...ctx.types].filter(([, t]) => columnKind(t) === 'text' && !/^UUID$/i.test(t)).map(([c]) => c);
  const m = missing(ctx, listed);
  if (m) return err(m);
  const kinds = check.kinds;
  const project: Array<[string, string]> = [];
  listed.forEach((c, ci) =>
    kinds.forEach((k, ki) => project.push([`__c${index}_${ci}_${ki}`, piiCountSql(ident(c), k, kinds)])),
  );
  const cell = (ci: number, ki: number) => ident(`__c${index}_${ci}_${ki}`);
  if (!listed.length || !kinds.length) {
    return {
      check,
      finish: (_v, rows) => ({
        evaluated: rows,
        failed: 0,
        message: 'no text columns to scan',
        details: { columns: [], kinds: {} },
      }),
    };
  }
  const anyOf = (ki: number) => listed.map((_, ci) => `${cell(ci, ki)} > 0`).join(' OR ');
  const offending = kinds.map((_, ki) => anyOf(ki)).join(' OR ');
  const aggs = [`count(*) FILTER (WHERE ${offending})`];
  kinds.forEach((_, ki) =>
    aggs.push(`count(*) FILTER (WHERE ${anyOf(ki)})`, `sum(${listed.map((_, ci) => cell(ci, ki)).join(' + ')})`),
  );
  return {
    check,
    project,
    offending,
    aggs,
    sampleColumns: listed,
    mask: true,
    sampleInScan: true,
    finish: (v, rows) => {
      const byKind: Record<string, { rows: number; matches: number }> = {};
      kinds.forEach(
        (k: PiiKind, ki) => (byKind[k] = { rows: Number(v[1 + 2 * ki] ?? 0), matches: Number(v[2 + 2 * ki] ?? 0) }),
      );
      const found = Object.entries(byKind)
        .filter(([, x]) => x.rows > 0)
        .map(([k, x]) => `${k}: ${count(x.matches, 'match', 'matches')} in ${count(x.rows, 'row')}`);
      return {
        evaluated: rows,
        failed: Number(v[0]),
        message:
          rowsOf(Number(v[0]), rows, `contain personal data in ${listed.join(', ')}`) +
          (found.length ? ` (${found.join('; ')})` : ''),
        details: { columns: listed, kinds: byKind },
      };
    },
  };
}

function planCheckDrift(check: Extract<TableCheck, { kind: 'drift' }>, scope: PlanCheckScope): Plan {
  const { ctx } = scope;
  return planDrift(check, ctx);
}

function planSchema(check: Extract<TableCheck, { kind: 'schema' }>, ctx: PlanContext): Plan {
  const loaded = new Map(ctx.table.columns.map((c) => [c.name, c]));
  const problems: Array<{ column: string; problem: string }> = [];
  const examined = new Set<string>();
  for (const [col, declared] of Object.entries(check.columns)) {
    examined.add(col);
    const have = loaded.get(col);
    const want = ctx.canonical.get(declared) ?? null;
    if (want === null) problems.push({ column: col, problem: `${JSON.stringify(declared)} is not a DuckDB type` });
    if (!have) {
      problems.push({ column: col, problem: 'missing' });
      continue;
    }
    const got = ctx.canonical.get(have.type) ?? have.type;
    if (want !== null && !typeMatches(declared, want, got))
      problems.push({ column: col, problem: `is ${got}, not ${want}` });
    if (have.invalid > 0)
      problems.push({
        column: col,
        problem: `${count(have.invalid, 'value')} ${have.invalid === 1 ? 'is' : 'are'} not ${got} (loaded as NULL)`,
      });
  }
  if (check.exact) {
    for (const c of ctx.table.columns) {
      examined.add(c.name);
      if (!Object.hasOwn(check.columns, c.name))
        problems.push({ column: c.name, problem: 'not in the schema (exact: true)' });
    }
  }
  const notNullable: string[] = [];
  for (const [col, nullable] of Object.entries(check.nullable ?? {})) {
    examined.add(col);
    if (!loaded.has(col)) {
      if (!problems.some((p) => p.column === col && p.problem === 'missing'))
        problems.push({ column: col, problem: 'missing' });
    } else if (!nullable) notNullable.push(col);
  }
  const offending = notNullable.length ? notNullable.map((c) => `${ident(c)} IS NULL`).join(' OR ') : undefined;
  return {
    check,
    ...(offending ? { offending } : {}),
    aggs: notNullable.map((c) => `count(*) FILTER (WHERE ${ident(c)} IS NULL)`),
    finish: (v) => {
      const all = [...problems];
      notNullable.forEach((c, i) => {
        const nulls = Number(v[i] ?? 0);
        if (nulls > 0) all.push({ column: c, problem: `${count(nulls, 'NULL')} in a column that is not nullable` });
      });
      const bad = new Set(all.map((p) => p.column));
      return {
        evaluated: examined.size,
        failed: bad.size,
        message: all.length
          ? `${n(bad.size)} of ${n(examined.size)} columns differ from the schema: ${all.map((p) => `${p.column} ${p.problem}`).join('; ')}`
          : `all ${n(examined.size)} columns match the schema`,
        details: { problems: all },
      };
    },
  };
}

async function planAllowed(check: Extract<TableCheck, { kind: 'allowed' }>, ctx: PlanContext): Promise<Plan> {
  const m = missing(ctx, [check.column]);
  if (m) return { check, error: m };
  const type = ctx.types.get(check.column)!;
  const kind = columnKind(type);
  const x = ident(check.column);
  const nullAllowed = check.values.includes(null);
  const values = check.values.filter((v): v is string | number | boolean => v !== null);
  let list: string[];
  let probe = x;
  if (kind === 'numeric') {
    const bad = values.filter(
      (v) => typeof v === 'boolean' || !Number.isFinite(Number(v)) || (typeof v === 'string' && v.trim() === ''),
    );
    if (bad.length)
      return {
        check,
        error: `${bad.map((v) => JSON.stringify(v)).join(', ')} can never equal a value of the numeric column ${JSON.stringify(check.column)}`,
      };
    list = values.map((v) => doubleLiteral(Number(v)));
    probe = `CAST(${x} AS DOUBLE)`;
  } else if (kind === 'boolean') {
    const bad = values.filter((v) => !(typeof v === 'boolean' || v === 'true' || v === 'false'));
    if (bad.length)
      return {
        check,
        error: `${bad.map((v) => JSON.stringify(v)).join(', ')} can never equal a value of the BOOLEAN column ${JSON.stringify(check.column)}`,
      };
    list = values.map((v) => (v === true || v === 'true' ? 'true' : 'false'));
  } else if (kind === 'text') {
    list = values.map((v) => lit(String(v)));
    probe = `CAST(${x} AS VARCHAR)`;
  } else {
    list = values.map((v) => `TRY_CAST(${lit(String(v))} AS ${type})`);
    if (list.length) {
      const [row] = await ctx.engine.all<Record<string, unknown>>(
        `SELECT ${list.map((l, i) => `${l} IS NULL AS "v${i}"`).join(', ')}`,
      );
      const bad = values.filter((_, i) => row?.[`v${i}`] === true);
      if (bad.length)
        return {
          check,
          error: `${bad.map((v) => JSON.stringify(v)).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not ${type}`,
        };
    }
  }
  // list_contains hashes the list; an IN list is one comparison per value per row.
  const notListed = list.length ? `NOT list_contains([${list.join(', ')}], ${probe})` : 'true';
  const offending = nullAllowed ? `${x} IS NOT NULL AND ${notListed}` : `${x} IS NULL OR ${notListed}`;
  return {
    check,
    offending,
    aggs: [`count(*) FILTER (WHERE ${offending})`],
    finish: ([failed], rows) => ({
      evaluated: rows,
      failed: Number(failed),
      message: rowsOf(
        Number(failed),
        rows,
        `have ${check.column} outside the allowed values${nullAllowed ? '' : ' (NULL is not allowed)'}`,
      ),
    }),
  };
}

async function planSql(check: Extract<TableCheck, { kind: 'sql' }>, ctx: PlanContext): Promise<Plan> {
  const where = `check ${JSON.stringify(check.name)} (line ${check.line})`;
  // The predicate is spliced into the suite's one query, so DuckDB's own parser must see one
  // expression (json_serialize_sql parses without running): never a second statement, nothing
  // after it, and no subquery, through which a suite could read any file the process can (the
  // same rules as clean's filters). The newline before `)` keeps a `--` comment inside.
  const wrapped = `(${check.predicate}\n)`;
  const [parsed] = await ctx.engine.all<{ j: string }>(
    `SELECT json_serialize_sql(${lit(`SELECT ${wrapped} FROM __cairn_probe`)}) AS j`,
  );
  const json = parsed?.j ?? '{}';
  const tree = JSON.parse(json) as {
    error?: boolean;
    error_type?: string;
    error_message?: string;
    statements?: Array<{
      node?: {
        type?: string;
        select_list?: unknown[];
        from_table?: { table_name?: string };
        where_clause?: unknown;
        group_expressions?: unknown[];
        having?: unknown;
        modifiers?: unknown[];
      };
    }>;
  };
  const node = tree.statements?.[0]?.node;
  const single =
    !tree.error &&
    tree.statements?.length === 1 &&
    node?.type === 'SELECT_NODE' &&
    node.select_list?.length === 1 &&
    node.from_table?.table_name === '__cairn_probe' &&
    !node.where_clause &&
    !node.having &&
    !node.group_expressions?.length &&
    !node.modifiers?.length;
  const why =
    tree.error && tree.error_type === 'parser'
      ? (tree.error_message ?? 'it does not parse')
      : !single
        ? 'it is not one expression (it would end the query or start another statement)'
        : /"(?:class|type)":"SUBQUERY"/.test(json)
          ? 'it may not contain a subquery'
          : null;
  if (why) {
    ctx.syntaxErrors.push(`${where}: the predicate ${JSON.stringify(check.predicate)} is not valid SQL: ${why}`);
    return { check, error: why };
  }
  const offending = `${wrapped} IS NOT TRUE`;
  const probe = `SELECT count(*) FILTER (WHERE ${offending}) FROM (SELECT * FROM ${ctx.rel} LIMIT 0)`;
  try {
    await ctx.engine.all(probe);
  } catch (e) {
    // A missing column or function is the suite's mistake: say it in words, at the file,
    // line and column of the predicate where the user wrote the name.
    if (isEngineError(e) && check.at) {
      const here = locate(check.at, check.predicate, offsetInPredicate(e.detail, probe, check.predicate));
      return {
        check,
        error: `${here}: the predicate ${JSON.stringify(check.predicate)} cannot run: ${describeSqlError(e.detail, [...ctx.types.keys()])}`,
      };
    }
    return {
      check,
      error: `the predicate ${JSON.stringify(check.predicate)} cannot run: ${isEngineError(e) ? describeSqlError(e.detail, [...ctx.types.keys()]) : firstParagraph(e)}`,
    };
  }
  return {
    check,
    offending,
    aggs: [`count(*) FILTER (WHERE ${offending})`],
    finish: ([failed], rows) => ({
      evaluated: rows,
      failed: Number(failed),
      message: rowsOf(Number(failed), rows, `do not satisfy ${check.predicate}`),
    }),
  };
}

function planDrift(check: Extract<TableCheck, { kind: 'drift' }>, ctx: PlanContext): Plan {
  const ref = ctx.reference;
  if (!ref) return { check, error: `no profile of the reference ${JSON.stringify(check.reference)} was given` };
  if (ctx.driftReferences > 1 && ref.ref !== check.reference)
    return {
      check,
      error: `the reference profile given is ${JSON.stringify(ref.ref)}, not ${JSON.stringify(check.reference)}; run drift checks against one reference at a time`,
    };
  const refCols = new Map(ref.profile.columns.map((c) => [c.name, c]));
  const m = missing(ctx, check.columns ?? []);
  if (m) return { check, error: m };
  const absent = (check.columns ?? []).filter((c) => !refCols.has(c));
  if (absent.length)
    return {
      check,
      error: `the reference ${ref.ref} has no column ${absent.map((c) => JSON.stringify(c)).join(', ')}`,
    };
  const compared: Array<{ column: string; ref: ColumnProfile; method: DriftMethod; at: number; width: number }> = [];
  const skipped: Array<{ column: string; reason: string }> = [];
  const aggs: string[] = [];
  const listed = check.columns ?? [...ctx.types.keys()].filter((c) => refCols.has(c));
  for (const column of listed) {
    const refCol = refCols.get(column)!;
    const type = ctx.types.get(column)!;
    const how = driftMethod(refCol, type);
    if (!check.columns && refCol.kind === 'temporal') {
      skipped.push({ column, reason: 'time columns move by design; list them to compare' });
      continue;
    }
    if ('reason' in how) {
      if (check.columns) return { check, error: `cannot compare ${JSON.stringify(column)}: ${how.reason}` };
      skipped.push({ column, reason: how.reason });
      continue;
    }
    const a = driftAggregates(column, type, refCol, how.method);
    compared.push({ column, ref: refCol, method: how.method, at: aggs.length, width: a.length });
    aggs.push(...a);
  }
  return {
    check,
    aggs,
    finish: (v) => {
      const columns: DriftColumn[] = compared.map((c) =>
        evaluateDrift(c.column, c.ref, c.method, v.slice(c.at, c.at + c.width), check),
      );
      const drifted = columns.filter((c) => !c.passed);
      const fmt = (c: DriftColumn) =>
        `${c.column} (PSI ${c.psi.toFixed(3)}${c.ks !== undefined ? `, KS ${c.ks.toFixed(3)}` : ''})`;
      return {
        evaluated: columns.length,
        failed: drifted.length,
        message: drifted.length
          ? `${n(drifted.length)} of ${n(columns.length)} columns drifted from ${ref.ref}: ${drifted.map(fmt).join(', ')}; limits PSI ≤ ${check.psiMax}, KS ≤ ${check.ksMax}`
          : `${n(columns.length)} columns compared with ${ref.ref}; none drifted (PSI ≤ ${check.psiMax}, KS ≤ ${check.ksMax})`,
        details: { reference: ref.ref, psiMax: check.psiMax, ksMax: check.ksMax, columns, skipped },
      };
    },
  };
}

function duration(ms: number): string {
  const a = Math.abs(ms);
  const sign = ms < 0 ? '−' : '';
  const unit = (v: number, name: string) => `${sign}${v} ${v === 1 ? name : `${name}s`}`;
  if (a >= 86_400_000) return unit(Math.round((a / 86_400_000) * 10) / 10, 'day');
  if (a >= 3_600_000) return unit(Math.round((a / 3_600_000) * 10) / 10, 'hour');
  if (a >= 60_000) return unit(Math.round((a / 60_000) * 10) / 10, 'minute');
  return unit(Math.round(a / 100) / 10, 'second');
}
