/**
 * Calls `fn` with each entry of a verified log that names an action `relevant` matches, parses,
 * and is this log's own event at its own place (`workspace` and `index` as the log says): an
 * entry copied from another log, or shifted, vouches for nothing. Entries that do not parse are
 * passed over, as they vouch for nothing either.
 */
export function eachOwnEvent<E extends { workspace?: unknown; index?: unknown }>(
  entries: readonly string[],
  workspace: string,
  relevant: RegExp,
  fn: (e: E, index: number) => void,
): void {
  entries.forEach((text, index) => {
    if (!relevant.test(text)) return;
    let e: E;
    try {
      e = JSON.parse(text) as E;
    } catch {
      return;
    }
    if (e.workspace !== workspace || e.index !== index) return;
    fn(e, index);
  });
}
