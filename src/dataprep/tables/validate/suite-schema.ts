import type { Suite } from '../../spec-files/suite.js';

/**
 * The column types a suite declares (its `schema` checks, merged), for `loadTable`'s `schema`
 * option: CSV/TSV columns are then typed as declared and values that do not parse are counted
 * (the schema check reports them) instead of widening the inferred type. Undefined when the
 * suite declares no types.
 */
export function suiteSchema(suite: Suite): Record<string, string> | undefined {
  const out = new Map<string, string>();
  for (const c of suite.checks)
    if (c.kind === 'schema') for (const [col, type] of Object.entries(c.columns)) if (!out.has(col)) out.set(col, type);
  // fromEntries makes own properties even of names like __proto__.
  return out.size ? Object.fromEntries(out) : undefined;
}
