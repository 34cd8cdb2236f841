import { CompiledQuery, type Kysely } from 'kysely';
import { directReadsOf } from './direct-reads.js';
import type { ReadDb } from './read-db.js';
import type { Database } from './schema.js';

/** A query ReadDb built (a select: ReadDb has no writes); `execute` when it cannot be compiled once. */
type Built<O> = { compile(): CompiledQuery<O>; execute(): Promise<O[]> };

/** How a read's compiled text takes its arguments: each parameter is an argument's value or a constant. */
interface Compiled {
  sql: string;
  slots: ReadonlyArray<{ arg: number } | { value: unknown }>;
}

/**
 * A read whose shape the code fixes (`data ls`, `model versions`, `run ls`): built and compiled
 * by Kysely once per database, then run from its SQL text with each call's arguments. A team
 * server answers the same few listings thousands of times a second, and building and compiling
 * each one again was 5 % of its CPU per read.
 *
 * `build` must use its arguments as values only, never to choose the query's shape (a branch on
 * one would be taken once, for a marker, and kept for every call): it is built once with a
 * marker string for each argument, and each marker must come out as a parameter. When one does
 * not (an argument in the query's text, or not used), the read is built on every call
 * as before. Only a select can be built here, so this runs no write.
 */
export function compiledRead<A extends unknown[], O>(
  build: (db: ReadDb, ...args: A) => Built<O>,
): (db: ReadDb, ...args: A) => Promise<O[]> {
  const compiled = new WeakMap<ReadDb, Compiled | null>();
  return async (db, ...args) => {
    let c = compiled.get(db);
    if (c === undefined) compiled.set(db, (c = compileOnce(db, build, args.length)));
    // Built with this call's arguments as before (a marker the builder refused is not an answer).
    if (c === null) return build(db, ...args).execute();
    const parameters = c.slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    // On PostgreSQL, straight to a pipelined connection: Kysely's connection chain around one
    // statement made about fifteen promises, each tracked by the AsyncLocalStorage hooks.
    const direct = directReadsOf(db);
    const rows = direct ? await direct(c.sql, parameters) : undefined;
    if (rows) return rows as O[];
    // ReadDb is the Kysely instance, seen through reads only; a compiled select is one of them.
    const r = await (db as Kysely<Database>).executeQuery<O>(CompiledQuery.raw(c.sql, parameters));
    return r.rows;
  };
}

function compileOnce<A extends unknown[], O>(
  db: ReadDb,
  build: (db: ReadDb, ...args: A) => Built<O>,
  arity: number,
): Compiled | null {
  const markers = Array.from({ length: arity }, (_, i) => `\u0000cairn-argument-${i}\u0000`);
  let q: CompiledQuery<O>;
  try {
    q = build(db, ...(markers as A)).compile();
  } catch {
    return null;
  }
  if (q.query.kind !== 'SelectQueryNode' || markers.some((m) => q.sql.includes(m))) return null;
  const slots = q.parameters.map((p) => {
    const arg = typeof p === 'string' ? markers.indexOf(p) : -1;
    return arg >= 0 ? { arg } : { value: p };
  });
  for (let i = 0; i < arity; i++) if (!slots.some((s) => 'arg' in s && s.arg === i)) return null;
  return { sql: q.sql, slots };
}
