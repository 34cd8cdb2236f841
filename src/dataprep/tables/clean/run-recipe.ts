import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CairnError, ioError } from '../../../core/errors.js';
import { installPiiMacros } from '../../pii/sql.js';
import type { Recipe, TableStep } from '../../spec-files/recipe.js';
import { locate } from '../../../core/yaml-doc.js';
import { ident, lit, type TableEngine } from '../engine.js';
import { describeSqlError, isEngineError, offsetInPredicate } from '../engine-error.js';
import type { LoadedTable } from '../load.js';
import { checkPredicate, checkSelect } from './predicate.js';
import { planStep, type Column, type StepPlan } from './step-sql.js';

export interface CleanOptions {
  /** The workspace's pseudonymization key; it never appears in the report, errors or the output. */
  hmacKey: Buffer;
  /** The Parquet file to write (replaced only when the whole recipe succeeds). */
  outFile: string;
}

export interface CleanStepReport {
  line: number;
  kind: TableStep['kind'];
  rowsIn: number;
  rowsOut: number;
  /** Step-specific counts (docs/DATAPREP.md, "Cleaning recipes and splits"). */
  details: Record<string, number | string>;
}

export interface CleanReport {
  /** The recipe's name. */
  recipe: string;
  rowsIn: number;
  rowsOut: number;
  /** The output's columns and their DuckDB types. */
  columns: Array<{ name: string; type: string }>;
  steps: CleanStepReport[];
}

let serial = 0;

/**
 * Runs a recipe's table steps in order, each as SQL over the previous step's result, and
 * writes the result as Parquet. Everything that can be checked without the data (columns,
 * types, filters, fill values) is checked for every step before the first row is read, and a
 * dry run over zero rows lets the engine bind every step's SQL; only then do the steps run,
 * each materialized so its rows and figures are counted once. Nothing is written unless all
 * steps succeed.
 */
export async function runRecipe(
  engine: TableEngine,
  table: LoadedTable,
  recipe: Recipe,
  opts: CleanOptions,
): Promise<CleanReport> {
  const secrets = secretForms(opts.hmacKey);
  try {
    return await run(engine, table, recipe, opts);
  } catch (err) {
    throw scrub(err, secrets);
  }
}

/** Plans every step against the columns it will see, running each plan's preconditions. */
async function planSteps(
  engine: TableEngine,
  table: LoadedTable,
  recipe: Recipe,
  o: { hmacKey: CleanOptions['hmacKey']; prefix: string; where: (i: number, s: TableStep) => string },
): Promise<StepPlan[]> {
  let cols: Column[] = table.columns.map((c) => ({ name: c.name, type: c.type }));
  const plans: StepPlan[] = [];
  for (const [i, step] of recipe.steps.entries()) {
    if (step.kind === 'filter') await checkPredicate(engine, step.predicate, o.where(i, step));
    if (step.kind === 'derive')
      for (const e of Object.values(step.columns)) await checkPredicate(engine, e, o.where(i, step), 'expression');
    if (step.kind === 'sql') await checkSelect(engine, step.query, o.where(i, step));
    const plan = planStep(step, cols, { where: o.where(i, step), hmacKey: o.hmacKey, prefix: o.prefix });
    for (const c of plan.checks) {
      const [r] = await engine.all<{ ok: boolean }>(c.sql);
      if (r?.ok !== true) throw c.error;
    }
    if (plan.describe) plan.after = await describeAfter(engine, plan, cols, o.where(i, step), step);
    plans.push(plan);
    cols = plan.after;
  }
  return plans;
}

/** The columns a derive or sql step yields, as the engine types them over zero rows of the columns before it. */
async function describeAfter(
  engine: TableEngine,
  plan: StepPlan,
  cols: readonly Column[],
  where: string,
  step: TableStep,
): Promise<Column[]> {
  const empty = `(SELECT ${cols.map((c) => `CAST(NULL AS ${c.type}) AS ${ident(c.name)}`).join(', ')} LIMIT 0)`;
  const sql = `SELECT column_name, column_type FROM (DESCRIBE ${plan.sql(empty)})`;
  const rows = await engine.all<{ column_name: string; column_type: string }>(sql).catch((err) => {
    throw stepError(err, where, step, { sql, columns: cols.map((c) => c.name) });
  });
  const names = rows.map((r) => r.column_name.toLowerCase());
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) {
    throw new CairnError('INVALID_INPUT', `${where}: the result has two columns named ${JSON.stringify(dup)}`, {
      hint: 'give every output column its own name (AS …); nothing was written',
      data: { line: step.line, kind: step.kind, column: dup },
    });
  }
  return rows.map((r) => ({ name: r.column_name, type: r.column_type }));
}

/** A cast with on_error: reject that met values it cannot convert refuses the recipe, with examples. */
async function refuseRejected(
  engine: TableEngine,
  plan: StepPlan,
  details: Record<string, number | string>,
  rel: string,
  where: string,
  step: TableStep,
): Promise<void> {
  for (const r of plan.reject ?? []) {
    const invalid = Number(details[r.detail] ?? 0);
    if (invalid === 0) continue;
    const examples = (await engine.all<{ v: string }>(r.examples(rel))).map((x) => x.v);
    throw new CairnError(
      'INVALID_INPUT',
      `${where}: ${invalid} value${invalid === 1 ? '' : 's'} of column ${JSON.stringify(r.column)} ${invalid === 1 ? 'is' : 'are'} not ${r.type}, e.g. ${examples.map((e) => JSON.stringify(e)).join(', ')}; nothing was written`,
      {
        hint: 'fix the values, filter those rows first, or use on_error: null to turn them into NULL',
        data: { line: step.line, kind: step.kind, column: r.column, type: r.type, count: invalid, examples },
      },
    );
  }
}

async function run(engine: TableEngine, table: LoadedTable, recipe: Recipe, opts: CleanOptions): Promise<CleanReport> {
  const id = ++serial;
  const names = table.columns.map((c) => c.name);
  let prefix = '__cairn_';
  while (names.some((n) => n.toLowerCase().startsWith(prefix))) prefix = `_${prefix}`;
  const where = (i: number, s: TableStep) => `recipe step ${i + 1} (${s.kind}, line ${s.line})`;

  // 1. Plan every step against the columns it will see.
  const plans = await planSteps(engine, table, recipe, { hmacKey: opts.hmacKey, prefix, where });
  if (recipe.steps.some((s) => s.kind === 'redact_pii')) await installPiiMacros(engine);

  const made: Array<{ kind: 'VIEW' | 'TABLE'; name: string }> = [];
  const visible = (rel: string, plan: StepPlan) =>
    plan.hidden.length ? `(SELECT * EXCLUDE (${plan.hidden.join(', ')}) FROM ${rel})` : rel;
  try {
    // 2. Dry run over zero rows: the engine binds every step (types, functions, filter columns).
    let dry = `(SELECT * FROM ${ident(table.name)} LIMIT 0)`;
    for (const [i, plan] of plans.entries()) {
      const view = `${prefix}dry_${id}_${i}`;
      made.push({ kind: 'VIEW', name: view });
      const sql = `CREATE OR REPLACE TEMP VIEW ${ident(view)} AS ${plan.sql(dry)}`;
      await engine.run(sql).catch((err) => {
        throw stepError(err, where(i, recipe.steps[i]!), recipe.steps[i]!, {
          sql,
          columns: (i === 0 ? table.columns : plans[i - 1]!.after).map((c) => c.name),
        });
      });
      dry = visible(ident(view), plan);
    }

    // 3. The steps, for real.
    let rel = ident(table.name);
    let rowsIn = table.rows;
    const steps: CleanStepReport[] = [];
    for (const [i, plan] of plans.entries()) {
      const step = recipe.steps[i]!;
      const out = `${prefix}step_${id}_${i}`;
      made.push({ kind: 'TABLE', name: out });
      await engine.run(`CREATE OR REPLACE TEMP TABLE ${ident(out)} AS ${plan.sql(rel)}`).catch((err) => {
        throw stepError(err, where(i, step), step);
      });
      const [figures] = await engine.all<Record<string, number>>(
        `SELECT count(*) AS __rows${plan.stats.map((s, j) => `, ${s.agg} AS s${j}`).join('')} FROM ${ident(out)}`,
      );
      const rowsOut = Number(figures!.__rows);
      const details: Record<string, number | string> = {};
      if (plan.rowDetail) details[plan.rowDetail] = rowsIn - rowsOut;
      plan.stats.forEach((s, j) => (details[s.detail] = Number(figures![`s${j}`] ?? 0)));
      await refuseRejected(engine, plan, details, rel, where(i, step), step);
      steps.push({ line: step.line, kind: step.kind, rowsIn, rowsOut, details });
      rel = visible(ident(out), plan);
      rowsIn = rowsOut;
    }

    // 4. Written in a fixed row order, so the same input and recipe give the same bytes.
    const columns = (
      await engine.all<{ column_name: string; column_type: string }>(
        `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${rel})`,
      )
    ).map((d) => ({
      name: d.column_name,
      type: d.column_type,
    }));
    await writeParquet(engine, `SELECT * FROM ${rel} ORDER BY ALL`, opts.outFile);
    return { recipe: recipe.name, rowsIn: table.rows, rowsOut: rowsIn, columns, steps };
  } finally {
    for (const m of made.reverse()) await engine.run(`DROP ${m.kind} IF EXISTS ${ident(m.name)}`).catch(() => {});
  }
}

async function writeParquet(engine: TableEngine, query: string, outFile: string): Promise<void> {
  try {
    mkdirSync(dirname(outFile), { recursive: true });
  } catch (err) {
    throw ioError(err, 'create', dirname(outFile));
  }
  const tmp = join(dirname(outFile), `.${basename(outFile)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await engine.run(`COPY (${query}) TO ${lit(tmp)} (FORMAT parquet)`);
    renameSync(tmp, outFile);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err instanceof CairnError ? err : ioError(err, 'write', outFile);
  }
}

/** An engine error inside a step, named by the step; the engine's echo of our SQL is left out. */
function stepError(
  err: unknown,
  where: string,
  step: TableStep,
  bound?: { sql: string; columns: string[] },
): CairnError {
  // A filter naming a column or function that is not there: in words, at the file, line and
  // column of the name in the recipe.
  if (bound && isEngineError(err) && step.kind === 'filter') {
    const here = step.at
      ? `${locate(step.at, step.predicate, offsetInPredicate(err.detail, bound.sql, step.predicate))}: `
      : '';
    return new CairnError(
      'INVALID_INPUT',
      `${here}${where}: the filter ${JSON.stringify(step.predicate)} cannot run: ${describeSqlError(err.detail, bound.columns).replace('which the table does not have', 'which the table does not have at that step')}`,
      {
        hint: 'fix the recipe; nothing was written',
        data: { line: step.line, kind: step.kind },
      },
    );
  }
  if (bound && isEngineError(err) && (step.kind === 'derive' || step.kind === 'sql')) {
    return new CairnError(
      'INVALID_INPUT',
      `${where}: the ${step.kind === 'sql' ? 'query' : 'expression'} cannot run: ${describeSqlError(err.detail, bound.columns).replace('which the table does not have', 'which the table does not have at that step')}`,
      { hint: 'fix the recipe; nothing was written', data: { line: step.line, kind: step.kind } },
    );
  }
  const message = String((err as Error)?.message ?? err)
    .split(/\n\s*LINE \d+:/)[0]!
    .trim();
  return new CairnError('INVALID_INPUT', `${where}: ${message}`, {
    hint: 'fix the recipe; nothing was written',
    data: { line: step.line, kind: step.kind },
  });
}

/** The key as the SQL could spell it: its hex and the HMAC pads derived from it. */
function secretForms(key: Buffer): string[] {
  const k0 = key.length > 64 ? createHash('sha256').update(key).digest() : key;
  const k = Buffer.concat([k0, Buffer.alloc(64 - k0.length)]);
  const forms = [
    key.toString('hex'),
    key.toString('base64'),
    Buffer.from(k.map((b) => b ^ 0x36)).toString('hex'),
    Buffer.from(k.map((b) => b ^ 0x5c)).toString('hex'),
  ];
  if (key.length >= 8) forms.push(key.toString('latin1'));
  return forms.filter((f) => f.length >= 8);
}

/** Errors leave without the key in any form, and without causes that could carry the SQL. */
function scrub(err: unknown, secrets: string[]): unknown {
  const clean = (s: string) =>
    secrets.reduce((acc, sec) => acc.split(sec).join('[secret]'), s).replace(/[0-9a-f]{128}/gi, '[secret]');
  if (err instanceof CairnError) {
    const data = JSON.parse(clean(JSON.stringify(err.data))) as Record<string, unknown>;
    return new CairnError(err.code, clean(err.message), { data, ...(err.hint ? { hint: clean(err.hint) } : {}) });
  }
  return new CairnError('INTERNAL', clean(String((err as Error)?.message ?? err)));
}
