/** Distinct statements one connection keeps prepared; past it, statements are parsed each time as before. */
export const PREPARED_PER_CONNECTION = 500;

// One read without parameters (`data ls`): a text holding several statements cannot be prepared.
const SINGLE_READ = /^\s*(select|with)\b[^;]*$/i;

/**
 * Whether a statement is kept prepared: one with parameters, or a single read without any; not
 * texts that are very long (bulk inserts of many rows), nor `begin`, `commit`, `savepoint …`.
 */
export function preparable(text: string, values: readonly unknown[]): boolean {
  return text.length <= 4096 && (values.length > 0 || SINGLE_READ.test(text));
}
