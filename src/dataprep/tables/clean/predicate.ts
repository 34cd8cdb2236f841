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
export async function checkPredicate(
  engine: TableEngine,
  predicate: string,
  where: string,
  noun: 'filter' | 'expression' = 'filter',
): Promise<string> {
  const wrapped = `(${predicate}\n)`;
  const [row] = await engine.all<{ j: string; ref: string }>(
    `SELECT json_serialize_sql(${lit(`SELECT * FROM t WHERE ${wrapped}`)}) AS j, json_serialize_sql('SELECT * FROM t WHERE (TRUE)') AS ref`,
  );
  const bad = (why: string) =>
    new CairnError('INVALID_INPUT', `${where}: the ${noun} ${JSON.stringify(predicate)} ${why}`, {
      hint:
        noun === 'filter'
          ? 'write one SQL condition over the columns, e.g. delay >= 0 AND origin IS NOT NULL'
          : 'write one SQL expression over the row, e.g. price * quantity',
      data: { predicate },
    });
  const parsed = JSON.parse(row!.j) as {
    error: boolean;
    error_message?: string;
    statements?: Array<{ node: Record<string, unknown> }>;
  };
  const one = noun === 'filter' ? 'condition' : 'expression';
  if (parsed.error) throw bad(`is not a SQL ${one} (${parsed.error_message ?? 'syntax error'})`);
  if (parsed.statements?.length !== 1) throw bad(`must be one ${one}, not several statements`);
  if (/"(?:class|type)":"SUBQUERY"/.test(row!.j)) throw bad('may not contain a subquery');
  const ref = (JSON.parse(row!.ref) as { statements: Array<{ node: Record<string, unknown> }> }).statements[0]!.node;
  if (shape(parsed.statements[0]!.node) !== shape(ref))
    throw bad(`must be one ${one} over the row (no GROUP BY, ORDER BY, UNION, … after it)`);
  return wrapped;
}

function shape(node: Record<string, unknown>): string {
  const { where_clause: _w, ...rest } = node;
  return JSON.stringify(rest, (k, v) => (k === 'query_location' ? undefined : v));
}

/**
 * A recipe's `sql` step: one SELECT whose only tables are `input` (the previous step's result)
 * and the query's own WITH names. Table functions (read_csv, read_text, …), file paths used as
 * tables and other catalogs' tables are refused, so a recipe cannot read anything but its input.
 */
export async function checkSelect(engine: TableEngine, query: string, where: string): Promise<void> {
  const [row] = await engine.all<{ j: string }>(`SELECT json_serialize_sql(${lit(query)}) AS j`);
  const bad = (why: string) =>
    new CairnError('INVALID_INPUT', `${where}: the query ${JSON.stringify(query)} ${why}`, {
      hint: 'write one SELECT over the table `input`, e.g. SELECT species, avg(mass) AS mass FROM input GROUP BY species',
      data: { query },
    });
  const parsed = JSON.parse(row!.j) as { error: boolean; error_message?: string; statements?: unknown[] };
  if (parsed.error) throw bad(`is not one SELECT (${parsed.error_message ?? 'syntax error'})`);
  if (parsed.statements?.length !== 1) throw bad('must be one SELECT, not several statements');
  const ctes = new Set<string>(['input']);
  const tables: Array<{ type: string; name: string; qualified: boolean; fn?: string }> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    const map = (o.cte_map as { map?: Array<{ key: string }> } | undefined)?.map;
    for (const e of map ?? []) ctes.add(String(e.key).toLowerCase());
    if (o.type === 'BASE_TABLE')
      tables.push({ type: 'table', name: String(o.table_name), qualified: Boolean(o.schema_name || o.catalog_name) });
    if (o.type === 'TABLE_FUNCTION')
      tables.push({
        type: 'function',
        name: '',
        qualified: false,
        fn: String((o.function as { function_name?: string })?.function_name),
      });
    Object.values(o).forEach(walk);
  };
  walk(parsed.statements);
  for (const t of tables) {
    if (t.type === 'function') throw bad(`may not call the table function ${t.fn} (only \`input\` can be read)`);
    if (t.qualified || !ctes.has(t.name.toLowerCase()))
      throw bad(`reads ${JSON.stringify(t.name)}, which is not \`input\` nor one of the query's WITH names`);
  }
}
