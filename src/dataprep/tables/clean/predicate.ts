import { CairnError } from '../../../core/errors.js';
import { lit, type TableEngine } from '../engine.js';

/**
 * A filter predicate must be one SQL expression over the row. DuckDB's own parser checks it:
 * the query `SELECT * FROM t WHERE (<predicate>)` must parse to exactly the shape of
 * `SELECT * FROM t WHERE (TRUE)` apart from the condition, so a predicate cannot close the
 * clause early to add GROUP BY, ORDER BY, UNION or more statements, and it may not hold a
 * subquery (through which a recipe could read any file the process can). `--` comments are
 * harmless: the condition is closed on a new line.
 */
export async function checkPredicate(engine: TableEngine, predicate: string, where: string): Promise<string> {
  const wrapped = `(${predicate}\n)`;
  const [row] = await engine.all<{ j: string; ref: string }>(
    `SELECT json_serialize_sql(${lit(`SELECT * FROM t WHERE ${wrapped}`)}) AS j, json_serialize_sql('SELECT * FROM t WHERE (TRUE)') AS ref`,
  );
  const bad = (why: string) =>
    new CairnError('INVALID_INPUT', `${where}: the filter ${JSON.stringify(predicate)} ${why}`, {
      hint: 'write one SQL condition over the columns, e.g. delay >= 0 AND origin IS NOT NULL',
      data: { predicate },
    });
  const parsed = JSON.parse(row!.j) as {
    error: boolean;
    error_message?: string;
    statements?: Array<{ node: Record<string, unknown> }>;
  };
  if (parsed.error) throw bad(`is not a SQL condition (${parsed.error_message ?? 'syntax error'})`);
  if (parsed.statements?.length !== 1) throw bad('must be one condition, not several statements');
  if (/"(?:class|type)":"SUBQUERY"/.test(row!.j)) throw bad('may not contain a subquery');
  const ref = (JSON.parse(row!.ref) as { statements: Array<{ node: Record<string, unknown> }> }).statements[0]!.node;
  if (shape(parsed.statements[0]!.node) !== shape(ref))
    throw bad('must be one condition over the row (no GROUP BY, ORDER BY, UNION, … after it)');
  return wrapped;
}

function shape(node: Record<string, unknown>): string {
  const { where_clause: _w, ...rest } = node;
  return JSON.stringify(rest, (k, v) => (k === 'query_location' ? undefined : v));
}
