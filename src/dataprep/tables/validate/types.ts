import type { TableEngine } from '../engine.js';

/**
 * DuckDB's canonical name of each type (`INT` → INTEGER, `TEXT` → VARCHAR, `NUMERIC(10,2)` →
 * DECIMAL(10,2)), asked of DuckDB itself so every alias it accepts is understood; a type it
 * does not know maps to null.
 */
export const TYPE_NAME = /^[A-Za-z][A-Za-z0-9_ ,()[\]]*$/;

export async function canonicalTypes(
  engine: TableEngine,
  types: readonly string[],
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  // A type name goes into SQL text; anything but a type's characters (a `;`, a quote) is refused.
  const unique = [...new Set(types)].filter((t) => {
    if (TYPE_NAME.test(t)) return true;
    out.set(t, null);
    return false;
  });
  if (!unique.length) return out;
  const probe = (list: string[]) => `SELECT ${list.map((t, i) => `typeof(CAST(NULL AS ${t})) AS "t${i}"`).join(', ')}`;
  try {
    const [row] = await engine.all<Record<string, string>>(probe(unique));
    unique.forEach((t, i) => out.set(t, row?.[`t${i}`] ?? null));
  } catch {
    // One bad name fails the batch; ask one by one to find it.
    for (const t of unique) {
      try {
        const [row] = await engine.all<Record<string, string>>(probe([t]));
        out.set(t, row?.t0 ?? null);
      } catch {
        out.set(t, null);
      }
    }
  }
  return out;
}

/** Whether a column of canonical type `actual` satisfies the declared canonical type; a bare DECIMAL accepts any precision. */
export function typeMatches(declaredRaw: string, declared: string, actual: string): boolean {
  if (declared === actual) return true;
  return /^\s*(DECIMAL|NUMERIC)\s*$/i.test(declaredRaw) && /^DECIMAL\(/.test(actual);
}
