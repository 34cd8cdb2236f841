import { CairnError } from '../../../core/errors.js';
import { PII_PATTERNS } from '../../pii/patterns.js';
import { hmacSql, redactSql } from '../../pii/sql.js';
import type { TableStep } from '../../spec-files/recipe.js';
import { ident, lit } from '../engine.js';
import { parses } from '../load.js';

export interface Column {
  name: string;
  type: string;
}

/** How one recipe step runs: pure SQL text, built and checked against the columns before any data is touched. */
export interface StepPlan {
  /** The step's query over `input`: the output columns, then the hidden figures columns. */
  sql(input: string): string;
  /** Internal columns of `sql` that only feed `stats`. */
  hidden: string[];
  /** Report detail → aggregate over the step's output. */
  stats: Array<{ detail: string; agg: string }>;
  /** Report detail that is rows in − rows out. */
  rowDetail?: 'dropped' | 'filtered';
  /** Conditions to hold before running: SQL returning one boolean `ok`, and the error otherwise. */
  checks: Array<{ sql: string; error: CairnError }>;
  /** `cast` with `on_error: reject`: how to find each column's invalid values in the input. */
  reject?: Array<{ column: string; type: string; detail: string; examples(input: string): string }>;
  /** The columns after the step (a cast's type as written; the engine's own names come from DESCRIBE). */
  after: Column[];
  /** The columns after the step are the engine's to say (derive, sql): `after` is filled in by DESCRIBE. */
  describe?: boolean;
}

export interface PlanContext {
  /** `step 3 (cast, line 7)`: how errors name the step. */
  where: string;
  hmacKey: Buffer;
  /** A prefix no column has, for internal column names. */
  prefix: string;
}

const TEXT = /^(VARCHAR|TEXT|STRING|CHAR|BPCHAR)(\(\d+\))?$/i;
// Words, an optional (p[, s]) and optional [] : enough for every DuckDB type name, never SQL.
const TYPE_NAME = /^[A-Za-z][A-Za-z0-9_]*(?: [A-Za-z][A-Za-z0-9_]*)*(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?(?:\[\])?$/;
/** Leading/trailing runs of ASCII whitespace and Unicode space separators (no-break space included). */
const EDGE_SPACE = String.raw`^[\s\p{Z}]+|[\s\p{Z}]+$`;

export function isText(type: string): boolean {
  return TEXT.test(type.trim());
}

export function planStep(step: TableStep, cols: readonly Column[], ctx: PlanContext): StepPlan {
  // One planner per kind; the table's type ties each to its own kind, so this call is the only cast.
  const planner = PLANSTEP_BY_KIND[step.kind] as (x: TableStep, scope: PlanStepScope) => StepPlan;
  return planner(step, planStepScope(step, cols, ctx));
}

/** What every kind of step is planned with. */
function planStepScope(step: TableStep, cols: readonly Column[], ctx: PlanContext) {
  const names = cols.map((c) => c.name);
  const typeOf = (c: string) => cols.find((x) => x.name === c)!.type;
  const need = (list: readonly string[]) => {
    for (const c of list) {
      if (!names.includes(c)) {
        throw new CairnError(
          'INVALID_INPUT',
          `${ctx.where} names column ${JSON.stringify(c)}, which the table does not have at that step`,
          {
            hint: `columns at that step: ${names.join(', ')}; fix the recipe (nothing was written)`,
            data: { line: step.line, kind: step.kind, column: c, columns: names },
          },
        );
      }
    }
    return [...list];
  };
  const textOnly = (list: readonly string[] | undefined) => {
    if (list === undefined) return names.filter((c) => isText(typeOf(c)));
    for (const c of need(list)) {
      if (!isText(typeOf(c))) {
        throw new CairnError('INVALID_INPUT', `${ctx.where}: column ${JSON.stringify(c)} is ${typeOf(c)}, not text`, {
          hint: 'apply this step to text columns only (cast the column to VARCHAR first if you mean it)',
          data: { line: step.line, kind: step.kind, column: c, type: typeOf(c) },
        });
      }
    }
    return [...list];
  };
  const p = ctx.prefix;
  const base = { checks: [], hidden: [], stats: [], after: [...cols] } as Pick<
    StepPlan,
    'checks' | 'hidden' | 'stats' | 'after'
  >;

  return { step, cols, ctx, names, typeOf, need, textOnly, p, base };
}

type PlanStepScope = ReturnType<typeof planStepScope>;

const PLANSTEP_BY_KIND: {
  [K in TableStep['kind']]: (x: Extract<TableStep, { kind: K }>, scope: PlanStepScope) => StepPlan;
} = {
  drop_duplicates: planStepDropDuplicates,
  filter: planStepFilter,
  drop_null: planStepDropNull,
  drop_columns: planStepDropColumns,
  cast: planStepCast,
  fill_null: planStepFillNull,
  trim: planStepTrim,
  normalize: planStepNormalize,
  pseudonymize: planStepPseudonymize,
  redact_pii: planStepRedactPii,
  rename: planStepRename,
  select: planStepSelect,
  derive: planStepDerive,
  sql: planStepSql,
};

function planStepRename(step: Extract<TableStep, { kind: 'rename' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, names, need, base } = scope;
  const entries = Object.entries(step.columns);
  need(entries.map(([c]) => c));
  const newName = (c: string) => step.columns[c] ?? c;
  const after = cols.map((c) => ({ name: newName(c.name), type: c.type }));
  const seen = new Set<string>();
  for (const [from, to] of entries) {
    if (to.trim() === '') {
      throw new CairnError('INVALID_INPUT', `${ctx.where}: the new name of ${JSON.stringify(from)} is empty`, {
        hint: 'give every renamed column a name',
        data: { line: step.line, column: from },
      });
    }
  }
  for (const c of after) {
    // DuckDB's identifiers are case-insensitive: "Price" and "price" are one name.
    const key = c.name.toLowerCase();
    if (seen.has(key)) {
      throw new CairnError('INVALID_INPUT', `${ctx.where}: two columns would be named ${JSON.stringify(c.name)}`, {
        hint: `rename or drop the other column first (columns at that step: ${names.join(', ')})`,
        data: { line: step.line, column: c.name },
      });
    }
    seen.add(key);
  }
  return {
    ...base,
    sql: (input) =>
      `SELECT ${cols.map((c) => (newName(c.name) === c.name ? ident(c.name) : `${ident(c.name)} AS ${ident(newName(c.name))}`)).join(', ')} FROM ${input}`,
    stats: [{ detail: 'renamed', agg: `${entries.filter(([a, b]) => a !== b).length}` }],
    after,
  };
}

function planStepSelect(step: Extract<TableStep, { kind: 'select' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, need, base } = scope;
  const list = need(step.columns);
  const dup = list.find((c, i) => list.indexOf(c) !== i);
  if (list.length === 0 || dup !== undefined) {
    throw new CairnError(
      'INVALID_INPUT',
      dup !== undefined ? `${ctx.where} names ${JSON.stringify(dup)} twice` : `${ctx.where} selects no column`,
      { hint: 'list each column to keep once, in the order wanted', data: { line: step.line } },
    );
  }
  return {
    ...base,
    sql: (input) => `SELECT ${list.map(ident).join(', ')} FROM ${input}`,
    stats: [{ detail: 'dropped_columns', agg: `${cols.length - list.length}` }],
    after: list.map((c) => cols.find((x) => x.name === c)!),
  };
}

function planStepDerive(step: Extract<TableStep, { kind: 'derive' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, names, base } = scope;
  const entries = Object.entries(step.columns);
  if (entries.length === 0) {
    throw new CairnError('INVALID_INPUT', `${ctx.where} derives no column`, {
      hint: 'write `- derive: { new_column: "SQL expression over the row" }`',
      data: { line: step.line },
    });
  }
  // Every expression sees the step's input columns; a name already there is replaced in place.
  const replaced = new Map(entries.filter(([c]) => names.includes(c)));
  const added = entries.filter(([c]) => !names.includes(c));
  const outer = [
    ...cols.map((c) => (replaced.has(c.name) ? `(${replaced.get(c.name)}\n) AS ${ident(c.name)}` : ident(c.name))),
    ...added.map(([c, e]) => `(${e}\n) AS ${ident(c)}`),
  ];
  return {
    ...base,
    sql: (input) => `SELECT ${outer.join(', ')} FROM ${input}`,
    stats: [
      { detail: 'added', agg: `${added.length}` },
      { detail: 'replaced', agg: `${replaced.size}` },
    ],
    describe: true,
  };
}

function planStepSql(step: Extract<TableStep, { kind: 'sql' }>, scope: PlanStepScope): StepPlan {
  const { base } = scope;
  // The query reads the previous step's result as `input`; its own WITH clauses stay inside.
  return {
    ...base,
    sql: (input) => `WITH input AS (SELECT * FROM ${input}) SELECT * FROM (${step.query}\n)`,
    describe: true,
  };
}

function planStepDropDuplicates(step: Extract<TableStep, { kind: 'drop_duplicates' }>, scope: PlanStepScope): StepPlan {
  const { names, need, base } = scope;
  const keys = step.columns?.length ? need(step.columns) : null;
  // With a key, the row kept is the first in the order of all columns: deterministic,
  // since the input's row order is not (the engine reads in parallel).
  const sql = keys
    ? (input: string) =>
        `SELECT * FROM ${input} QUALIFY row_number() OVER (PARTITION BY ${keys.map(ident).join(', ')} ORDER BY ${names.map((c) => `${ident(c)} NULLS LAST`).join(', ')}) = 1`
    : (input: string) => `SELECT DISTINCT * FROM ${input}`;
  return { ...base, sql, rowDetail: 'dropped' };
}

function planStepFilter(step: Extract<TableStep, { kind: 'filter' }>, scope: PlanStepScope): StepPlan {
  const { base } = scope;
  return { ...base, sql: (input) => `SELECT * FROM ${input} WHERE (${step.predicate}\n)`, rowDetail: 'filtered' };
}

function planStepDropNull(step: Extract<TableStep, { kind: 'drop_null' }>, scope: PlanStepScope): StepPlan {
  const { names, need, base } = scope;
  const list = step.columns?.length ? need(step.columns) : names;
  return {
    ...base,
    sql: (input) =>
      `SELECT * FROM ${input} WHERE ${list.map((c) => `${ident(c)} IS NOT NULL`).join(' AND ') || 'TRUE'}`,
    rowDetail: 'dropped',
  };
}

function planStepDropColumns(step: Extract<TableStep, { kind: 'drop_columns' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, names, need, base } = scope;
  const list = need(step.columns);
  if (names.every((c) => list.includes(c))) {
    throw new CairnError('INVALID_INPUT', `${ctx.where} would drop every column`, {
      hint: 'keep at least one column',
      data: { line: step.line },
    });
  }
  return {
    ...base,
    sql: (input) => `SELECT * EXCLUDE (${list.map(ident).join(', ')}) FROM ${input}`,
    stats: [{ detail: 'columns', agg: `${list.length}` }],
    after: cols.filter((c) => !list.includes(c.name)),
  };
}

function planStepCast(step: Extract<TableStep, { kind: 'cast' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, typeOf, need, p, base } = scope;
  const entries = Object.entries(step.columns);
  need(entries.map(([c]) => c));
  for (const [c, t] of entries) {
    if (!TYPE_NAME.test(t.trim())) {
      throw new CairnError(
        'INVALID_INPUT',
        `${ctx.where}: ${JSON.stringify(t)} is not a type name (column ${JSON.stringify(c)})`,
        {
          hint: 'use a DuckDB type such as BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP or VARCHAR',
          data: { line: step.line, column: c, type: t },
        },
      );
    }
  }
  const changes = entries.map(([c, t]) => {
    const type = t.trim().toUpperCase();
    const col = ident(c);
    // Text is parsed strictly, as when loading ('2.5' is not a BIGINT, blanks are missing
    // values); other types follow DuckDB's casts (a TIMESTAMP casts to its DATE).
    const v = `NULLIF(trim(${col}), '')`;
    const value = isText(typeOf(c))
      ? `CASE WHEN ${parses(v, type)} THEN TRY_CAST(${v} AS ${type}) END`
      : `TRY_CAST(${col} AS ${type})`;
    const present = isText(typeOf(c)) ? `${v} IS NOT NULL` : `${col} IS NOT NULL`;
    return { c, type, value, present, blank: `${col} IS NOT NULL AND ${v} IS NULL`, text: isText(typeOf(c)) };
  });
  const t = transform(
    cols,
    p,
    changes.map((x) => ({ column: x.c, value: x.value })),
  );
  const flags = changes.flatMap((x, i) => [
    { detail: `invalid:${x.c}`, expr: `${x.present} AND ${p}n${i} IS NULL`, agg: 'count_if' as const },
    ...(x.text ? [{ detail: `blank:${x.c}`, expr: x.blank, agg: 'count_if' as const }] : []),
  ]);
  const built = t.withFlags(flags);
  return {
    ...base,
    ...built,
    after: cols.map((c) => ({ name: c.name, type: changes.find((x) => x.c === c.name)?.type ?? c.type })),
    ...(step.onError === 'reject'
      ? {
          reject: changes.map((x) => ({
            column: x.c,
            type: x.type,
            detail: `invalid:${x.c}`,
            examples: (input: string) =>
              `SELECT DISTINCT CAST(${ident(x.c)} AS VARCHAR) AS v FROM ${input} WHERE ${x.present} AND (${x.value}) IS NULL ORDER BY v LIMIT 5`,
          })),
        }
      : {}),
  };
}

function planStepFillNull(step: Extract<TableStep, { kind: 'fill_null' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, typeOf, need, p, base } = scope;
  const entries = Object.entries(step.values);
  need(entries.map(([c]) => c));
  const checks: StepPlan['checks'] = [];
  const changes = entries.map(([c, value]) => {
    if (value === null) {
      throw new CairnError('INVALID_INPUT', `${ctx.where}: the fill value of ${JSON.stringify(c)} is null`, {
        hint: 'give a value to put in place of NULL',
        data: { line: step.line, column: c },
      });
    }
    const type = typeOf(c);
    const text = lit(String(value));
    checks.push({
      sql: `SELECT ${parses(text, type)} AS ok`,
      error: new CairnError(
        'INVALID_INPUT',
        `${ctx.where}: the fill value ${JSON.stringify(value)} is not a ${type} like column ${JSON.stringify(c)}`,
        {
          hint: `give a ${type} value`,
          data: { line: step.line, column: c, type },
        },
      ),
    });
    return { column: c, value: `coalesce(${ident(c)}, CAST(${text} AS ${type}))` };
  });
  const built = transform(cols, p, changes).withFlags(
    changes.map((x) => ({
      detail: `filled:${x.column}`,
      expr: `${ident(x.column)} IS NULL`,
      agg: 'count_if' as const,
    })),
  );
  return { ...base, ...built, checks };
}

function planStepTrim(step: Extract<TableStep, { kind: 'trim' }>, scope: PlanStepScope): StepPlan {
  const { cols, textOnly, p, base } = scope;
  const list = textOnly(step.columns);
  return changed(
    cols,
    p,
    list.map((c) => ({ column: c, value: `regexp_replace(${ident(c)}, ${lit(EDGE_SPACE)}, '', 'g')` })),
    base,
  );
}

function planStepNormalize(step: Extract<TableStep, { kind: 'normalize' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, textOnly, p, base } = scope;
  const list = textOnly(step.columns);
  if (step.unicode === false && step.whitespace === false && !step.case) {
    throw new CairnError(
      'INVALID_INPUT',
      `${ctx.where} does nothing: unicode and whitespace are off and no case is given`,
      { data: { line: step.line } },
    );
  }
  const value = (c: string) => {
    let e = ident(c);
    if (step.unicode !== false) e = `nfc_normalize(${e})`;
    if (step.whitespace !== false)
      e = `regexp_replace(regexp_replace(${e}, '[\\s\\p{Z}]+', ' ', 'g'), '^ | $', '', 'g')`;
    if (step.case) e = `${step.case}(${e})`;
    return e;
  };
  return changed(
    cols,
    p,
    list.map((c) => ({ column: c, value: value(c) })),
    base,
  );
}

function planStepPseudonymize(step: Extract<TableStep, { kind: 'pseudonymize' }>, scope: PlanStepScope): StepPlan {
  const { cols, ctx, need, p, base } = scope;
  const list = need(step.columns);
  const built = transform(
    cols,
    p,
    list.map((c) => ({ column: c, value: hmacSql(ident(c), ctx.hmacKey) })),
  ).withFlags(
    list.map((c) => ({ detail: `pseudonymized:${c}`, expr: `${ident(c)} IS NOT NULL`, agg: 'count_if' as const })),
  );
  return {
    ...base,
    ...built,
    after: cols.map((c) => (list.includes(c.name) ? { name: c.name, type: 'VARCHAR' } : c)),
  };
}

function planStepRedactPii(step: Extract<TableStep, { kind: 'redact_pii' }>, scope: PlanStepScope): StepPlan {
  const { cols, textOnly, p, base } = scope;
  const list = textOnly(step.columns);
  const changes = list.map((c) => ({ column: c, value: redactSql(ident(c), step.kinds) }));
  const t = transform(cols, p, changes);
  // Matches are counted as tokens the redaction added, so text that already held a token is not miscounted.
  const tokens = (e: string, token: string) =>
    `coalesce((length(${e}) - length(replace(${e}, ${lit(token)}, ''))) // ${token.length}, 0)`;
  const perKind = step.kinds.map((kind) => {
    const token = PII_PATTERNS.find((x) => x.kind === kind)!.token;
    const sum = list.map((c, i) => `${tokens(`${p}n${i}`, token)} - ${tokens(ident(c), token)}`).join(' + ') || '0';
    return { detail: `matches:${kind}`, expr: sum, agg: 'sum' as const };
  });
  const built = t.withFlags([
    ...list.map((c, i) => ({
      detail: `changed:${c}`,
      expr: `${ident(c)} IS DISTINCT FROM ${p}n${i}`,
      agg: 'count_if' as const,
    })),
    ...perKind,
  ]);
  return { ...base, ...built };
}

function changed(
  cols: readonly Column[],
  p: string,
  changes: Array<{ column: string; value: string }>,
  base: Pick<StepPlan, 'checks' | 'hidden' | 'stats' | 'after'>,
): StepPlan {
  const built = transform(cols, p, changes).withFlags(
    changes.map((x, i) => ({
      detail: `changed:${x.column}`,
      expr: `${ident(x.column)} IS DISTINCT FROM ${p}n${i}`,
      agg: 'count_if' as const,
    })),
  );
  return { ...base, ...built };
}

/**
 * A column-rewriting step: the inner query adds each new value once (`<p>n<i>`), the outer
 * one puts it in place of its column and adds figure columns (`<p>f<j>`) that compare old and
 * new, so expensive expressions (PII redaction) are evaluated once per value.
 */
function transform(cols: readonly Column[], p: string, changes: Array<{ column: string; value: string }>) {
  return {
    withFlags(
      flags: Array<{ detail: string; expr: string; agg: 'count_if' | 'sum' }>,
    ): Pick<StepPlan, 'sql' | 'hidden' | 'stats'> {
      if (changes.length === 0)
        return {
          sql: (input) => `SELECT * FROM ${input}`,
          hidden: [],
          stats: flags.map((f) => ({ detail: f.detail, agg: '0' })),
        };
      const outer = cols.map((c) => {
        const i = changes.findIndex((x) => x.column === c.name);
        return i < 0 ? ident(c.name) : `${p}n${i} AS ${ident(c.name)}`;
      });
      const hidden = flags.map((_, j) => `${p}f${j}`);
      return {
        sql: (input) =>
          `SELECT ${[...outer, ...flags.map((f, j) => `(${f.expr}) AS ${hidden[j]}`)].join(', ')} FROM (SELECT *, ${changes.map((x, i) => `${x.value} AS ${p}n${i}`).join(', ')} FROM ${input})`,
        hidden,
        stats: flags.map((f, j) => ({
          detail: f.detail,
          agg: f.agg === 'count_if' ? `count_if(${hidden[j]})` : `coalesce(sum(${hidden[j]}), 0)`,
        })),
      };
    },
  };
}
