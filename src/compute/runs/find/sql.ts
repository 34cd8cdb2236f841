import { sql, type RawBuilder } from 'kysely';
import type { MetricStat, RunSet } from './plan.js';

const STAT_COLUMN: Record<MetricStat, string> = {
  last: 'last_value',
  min: 'min_value',
  max: 'max_value',
  points: 'points',
};

/** First characters of a JSON number (JSON text never starts with whitespace here: it is written by JSON.stringify). */
const NUMBER_START = sql.raw(`('-','0','1','2','3','4','5','6','7','8','9')`);

/** A bound number, typed: PostgreSQL would take the type of the column (bigint for points) and refuse 2.5. */
const num = (v: number) => sql`cast(${v} as double precision)`;

/**
 * A run set as one SQL select of `id`, from the same indexes on SQLite and PostgreSQL: compound
 * selects (INTERSECT / UNION / EXCEPT) over index range scans, each side wrapped as a derived
 * table so either engine accepts the nesting. Names and numbers are bound, never spliced; the
 * operators and column names come from the plan's closed sets.
 */
export function runSetSql(s: RunSet): RawBuilder<unknown> {
  let n = 0;
  const go = (x: RunSet): RawBuilder<unknown> => {
    switch (x.kind) {
      case 'all':
        return sql`select id from runs`;
      case 'none':
        return sql`select id from runs where 1 = 0`;
      case 'hasMetric':
        return sql`select run_id as id from run_metric_summaries where name = ${x.name}`;
      case 'metric':
        return sql`select run_id as id from run_metric_summaries where name = ${x.name} and ${sql.ref(STAT_COLUMN[x.stat])} ${sql.raw(x.op)} ${num(x.value)}`;
      case 'hasParam':
        return sql`select run_id as id from run_params where name = ${x.name} and value <> 'null'`;
      case 'param': {
        // CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and the cast of
        // '"adam"' would fail.
        const numeric = sql`case when substr(value, 1, 1) in ${NUMBER_START} then cast(value as double precision) end ${sql.raw(x.op)} ${num(x.value)}`;
        return x.text
          ? sql`select run_id as id from run_params where name = ${x.name} and (substr(value, 1, 1) = '"' or ${numeric})`
          : sql`select run_id as id from run_params where name = ${x.name} and ${numeric}`;
      }
      case 'intersect':
      case 'union':
      case 'except': {
        const a = sql.raw(`s${n++}`);
        const b = sql.raw(`s${n++}`);
        return sql`select id from (${go(x.left)}) as ${a} ${sql.raw(x.kind)} select id from (${go(x.right)}) as ${b}`;
      }
    }
  };
  return go(s);
}
