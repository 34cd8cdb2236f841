import { CairnError } from '../../../core/errors.js';
import { installPiiMacros } from '../../pii/sql.js';
import { maskValue, passes, type CheckResult, type ValidationReport } from '../../validation-report.js';
import type { Suite } from '../../spec-files/suite.js';
import { ident, lit, type TableEngine } from '../engine.js';
import type { LoadedTable } from '../load.js';
import type { TableProfile } from '../profile.js';
import { firstParagraph, planCheck, type Outcome, type Plan, type PlanContext } from './plans.js';
import { canonicalTypes } from './types.js';

export interface RunSuiteOptions {
  /** The version validated, e.g. flights@v3. */
  target: string;
  /** The stored profile of the version the suite's drift checks name (resolved by the caller). */
  reference?: { ref: string; profile: TableProfile };
  /** Freshness is measured from here; also the report's startedAt. */
  now: Date;
}

const SAMPLE_ROWS = 10;
/** Longer text in a sample is cut: a report must stay small even when a value is 100 MB. */
const SAMPLE_TEXT = 200;

/**
 * Runs a suite's table checks. Every check's failure count comes from ONE aggregate scan
 * (`count(*) FILTER (WHERE …)` per check); `unique` checks share one GROUPING SETS pass; only
 * checks that failed pay for a sample (≤ 10 rows, one LIMIT query each; regex and PII samples
 * ride along in the scan, as re-running their predicate costs more). A check that cannot
 * be evaluated (a missing column, a bad pattern) is reported with status `error` and never
 * stops the others; an SQL predicate that does not parse makes the suite invalid
 * (INVALID_INPUT naming the check and its line).
 */
export async function runSuite(
  engine: TableEngine,
  table: LoadedTable,
  suite: Suite,
  opts: RunSuiteOptions,
): Promise<ValidationReport> {
  const started = performance.now();
  const ctx = await planContext(engine, table, suite, opts);
  const { rel, types } = ctx;
  const plans = await planAll(suite, ctx);

  const values = new Map<Plan, unknown[]>();
  const samples = new Map<Plan, unknown[]>();
  const rows = await scanAll(engine, rel, plans, [...types.keys()], values, samples);
  await countDuplicates(engine, rel, plans, values);

  const checks: CheckResult[] = [];
  for (const plan of plans) checks.push(await checkResult(ctx, plan, rows, values, samples));
  checks.push(...suite.files.map((f) => fileCheckOnTable(f, opts.target)));

  const bad = checks.filter((c) => c.status !== 'passed');
  const errors = bad.filter((c) => c.severity === 'error').length;
  return {
    format: 'cairn.validation/v1',
    suite: suite.name,
    target: opts.target,
    kind: 'table',
    size: rows,
    ok: errors === 0,
    errors,
    warnings: bad.length - errors,
    checks,
    startedAt: opts.now.toISOString(),
    durationMs: Math.round(performance.now() - started),
  };
}

async function planContext(
  engine: TableEngine,
  table: LoadedTable,
  suite: Suite,
  opts: RunSuiteOptions,
): Promise<PlanContext> {
  const rel = ident(table.name);
  const described = await engine.all<{ column_name: string; column_type: string }>(
    `SELECT column_name, column_type FROM (DESCRIBE ${rel})`,
  );
  const types = new Map(described.map((d) => [d.column_name, d.column_type]));
  const declared = suite.checks.flatMap((c) => (c.kind === 'schema' ? Object.values(c.columns) : []));
  const canonical = await canonicalTypes(
    engine,
    declared.length ? [...declared, ...table.columns.map((c) => c.type)] : [],
  );
  if (suite.checks.some((c) => c.kind === 'pii')) await installPiiMacros(engine);
  const driftReferences = new Set(suite.checks.flatMap((c) => (c.kind === 'drift' ? [c.reference] : []))).size;
  return {
    engine,
    rel,
    table,
    types,
    canonical,
    driftReferences,
    now: opts.now,
    syntaxErrors: [],
    ...(opts.reference ? { reference: opts.reference } : {}),
  };
}

/** Plans every check first, so that all SQL that does not parse is reported at once. */
async function planAll(suite: Suite, ctx: PlanContext): Promise<Plan[]> {
  const plans: Plan[] = [];
  for (const [i, check] of suite.checks.entries()) plans.push(await planCheck(check, ctx, i));
  if (ctx.syntaxErrors.length) {
    throw new CairnError(
      'INVALID_INPUT',
      `suite ${JSON.stringify(suite.name)} has SQL that does not parse:\n  ${ctx.syntaxErrors.join('\n  ')}`,
      {
        data: { problems: ctx.syntaxErrors },
        hint: 'a sql check holds one DuckDB boolean expression over the columns, e.g. `arrival >= departure`',
      },
    );
  }
  return plans;
}

async function checkResult(
  ctx: PlanContext,
  plan: Plan,
  rows: number,
  values: Map<Plan, unknown[]>,
  samples: Map<Plan, unknown[]>,
): Promise<CheckResult> {
  const c = plan.check;
  const base = { name: c.name, kind: c.kind, severity: c.severity, line: c.line, mostly: c.mostly };
  let outcome: Outcome | null = null;
  let error = plan.error;
  if (!error) {
    try {
      outcome = plan.finish!(values.get(plan) ?? [], rows);
      error = outcome.error;
    } catch (e) {
      error = `the check could not be evaluated: ${(e as Error).message}`;
    }
  }
  if (error || !outcome) {
    return {
      ...base,
      status: 'error',
      evaluated: 0,
      failed: 0,
      percent: 0,
      message: error ?? 'the check could not be evaluated',
      sample: [],
    };
  }
  const ok = passes(outcome.failed, outcome.evaluated, c.mostly);
  const percent = outcome.evaluated > 0 ? Math.round((outcome.failed / outcome.evaluated) * 1e6) / 1e4 : 0;
  const sample = ok
    ? []
    : samples.has(plan)
      ? shapeAll(samples.get(plan)!, plan.mask === true)
      : await sampleOf(ctx.engine, ctx.rel, plan, values.get(plan) ?? [], [...ctx.types.keys()]);
  return {
    ...base,
    status: ok ? 'passed' : 'failed',
    evaluated: outcome.evaluated,
    failed: outcome.failed,
    percent,
    message: outcome.message,
    sample,
    ...(outcome.details ? { details: outcome.details } : {}),
  };
}

/** A `files:` check cannot judge a table; it is reported as an error rather than skipped unseen. */
function fileCheckOnTable(f: Suite['files'][number], target: string): CheckResult {
  return {
    name: f.name,
    kind: f.kind,
    severity: f.severity,
    line: f.line,
    mostly: f.mostly,
    status: 'error',
    evaluated: 0,
    failed: 0,
    percent: 0,
    message: `${f.kind} is a check for file collections; ${target} is a table`,
    sample: [],
  };
}

function fromWith(rel: string, plans: readonly Plan[]): string {
  const project = plans.flatMap((p) => p.project ?? []);
  return project.length
    ? `(SELECT *, ${project.map(([alias, sql]) => `${sql} AS ${ident(alias)}`).join(', ')} FROM ${rel})`
    : rel;
}

/** The one scan. Should it fail on the data (a predicate that casts, say), each check runs alone so only the culprit errs. */
async function scanAll(
  engine: TableEngine,
  rel: string,
  plans: Plan[],
  columns: string[],
  values: Map<Plan, unknown[]>,
  samples: Map<Plan, unknown[]>,
): Promise<number> {
  const live = plans.filter((p) => !p.error && (p.aggs?.length || p.sampleInScan));
  const run = async (group: Plan[]): Promise<number> => {
    const aggs = group.flatMap((p, i) => [
      ...(p.aggs ?? []).map((a, j) => `${a} AS "a${i}_${j}"`),
      ...(p.sampleInScan && p.offending ? [`${sampleAggregate(p, columns)} AS "s${i}"`] : []),
    ]);
    const [row] = await engine.all<Record<string, unknown>>(
      `SELECT ${['count(*) AS "rows"', ...aggs].join(', ')} FROM ${fromWith(rel, group)}`,
    );
    group.forEach((p, i) => {
      values.set(
        p,
        (p.aggs ?? []).map((_, j) => row?.[`a${i}_${j}`] ?? null),
      );
      if (p.sampleInScan) samples.set(p, (row?.[`s${i}`] as unknown[] | null) ?? []);
    });
    return Number(row?.rows ?? 0);
  };
  try {
    return await run(live);
  } catch {
    for (const p of live) {
      try {
        await run([p]);
      } catch (e) {
        p.error = `the check failed to run: ${firstParagraph(e)}`;
      }
    }
    return run([]);
  }
}

/** The 10 smallest offending rows in ORDER BY ALL order: a struct compares field by field. */
function sampleAggregate(plan: Plan, columns: string[]): string {
  const row = `{${(plan.sampleColumns ?? columns).map((c) => `${lit(c)}: ${ident(c)}`).join(', ')}}`;
  return `min_by(${row}, ${row}, ${SAMPLE_ROWS}) FILTER (WHERE ${plan.offending})`;
}

/**
 * All unique checks in one GROUPING SETS pass. Each set carries a constant marker column (never
 * NULL), so a group names its set even when its key is NULL; rows with a NULL in the key are
 * then left out, as SQL's UNIQUE does.
 */
async function countDuplicates(
  engine: TableEngine,
  rel: string,
  plans: Plan[],
  values: Map<Plan, unknown[]>,
): Promise<void> {
  const unique = plans.filter((p) => !p.error && p.uniqueKey);
  if (!unique.length) return;
  const select: string[] = [];
  const sets: string[] = [];
  const notNull: string[] = [];
  const keys: string[] = [];
  unique.forEach((p, i) => {
    const k = p.uniqueKey!.map((c, j) => {
      select.push(`${ident(c)} AS u${i}_${j}`);
      return `u${i}_${j}`;
    });
    select.push(`${i} AS m${i}`);
    keys.push(`m${i}`, ...k);
    sets.push(`(m${i}, ${k.join(', ')})`);
    notNull.push(`WHEN ${i} THEN ${k.map((x) => `${x} IS NOT NULL`).join(' AND ')}`);
  });
  // Per set, also the 10 smallest duplicated keys, ordered by value and handed back as text.
  const firstDups = unique.map((p, i) => {
    const k = p.uniqueKey!.map((_, j) => `u${i}_${j}`);
    const struct = (f: (x: string) => string) => `{${k.map((x, j) => `'k${j}': ${f(x)}`).join(', ')}}`;
    return `min_by(${struct((x) => `CAST(${x} AS VARCHAR)`)}, ${struct((x) => x)}, 10) FILTER (WHERE s = ${i} AND n > 1) AS "d${i}"`;
  });
  const sql = `SELECT s, sum(n) AS evaluated, coalesce(sum(n) FILTER (WHERE n > 1), 0) AS failed, ${firstDups.join(', ')} FROM (
      SELECT coalesce(${unique.map((_, i) => `m${i}`).join(', ')}) AS s, ${keys.join(', ')}, count(*) AS n
      FROM (SELECT ${select.join(', ')} FROM ${rel})
      GROUP BY GROUPING SETS (${sets.join(', ')})
    ) WHERE CASE s ${notNull.join(' ')} END GROUP BY s`;
  try {
    const out = await engine.all<Record<string, unknown>>(sql);
    unique.forEach((p) => values.set(p, [0, 0, []]));
    for (const r of out)
      values.set(unique[Number(r.s)]!, [Number(r.evaluated), Number(r.failed), r[`d${Number(r.s)}`] ?? []]);
  } catch (e) {
    for (const p of unique) p.error = `the check failed to run: ${firstParagraph(e)}`;
  }
}

async function sampleOf(
  engine: TableEngine,
  rel: string,
  plan: Plan,
  values: unknown[],
  columns: string[],
): Promise<unknown[]> {
  let sql = plan.sampleSql?.(values);
  if (!sql && plan.offending) {
    const shown = (plan.sampleColumns ?? columns).map(ident).join(', ');
    // ORDER BY ALL: the same data always gives the same sample, whatever the thread schedule.
    sql = `SELECT ${shown} FROM ${fromWith(rel, [plan])} WHERE ${plan.offending} ORDER BY ALL LIMIT ${SAMPLE_ROWS}`;
  }
  if (!sql) return [];
  try {
    return shapeAll(await engine.all<Record<string, unknown>>(sql), plan.mask === true);
  } catch {
    // A sample is an illustration; the counts above stand without it.
    return [];
  }
}

function shapeAll(rows: unknown[], mask: boolean): unknown[] {
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r as Record<string, unknown>).map(([k, v]) => [k, shape(v, mask)])),
  );
}

function shape(v: unknown, mask: boolean): unknown {
  if (v === null || (typeof v !== 'string' && !mask)) return v;
  const s = mask ? maskValue(typeof v === 'string' ? v : JSON.stringify(v)) : (v as string);
  return s.length > SAMPLE_TEXT ? `${s.slice(0, SAMPLE_TEXT)}…` : s;
}
