import { sql } from 'kysely';
import type { AuditEventRow } from '../schema.js';
import type { ReadDb } from '../read-db.js';

/** `s` as a LIKE literal (escape character `\`). */
export function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * One page of log rows whose entry text matches every LIKE pattern (escape `\`), after (or,
 * descending, before) the cursor index. Matching the entry itself, not the indexed columns
 * beside it: those are not covered by the leaf hash and can be changed without a trace, so
 * they may neither hide an event from a filter nor put one into it.
 */
export async function eventRowsMatching(
  db: ReadDb,
  q: { patterns: readonly string[]; cursor: number | null; desc: boolean; limit: number },
): Promise<AuditEventRow[]> {
  let query = db.selectFrom('audit_events').selectAll();
  for (const p of q.patterns) query = query.where(sql<boolean>`entry like ${p} escape ${sql.lit('\\')}`);
  if (q.cursor !== null) query = query.where('idx', q.desc ? '<' : '>', q.cursor);
  return query
    .orderBy('idx', q.desc ? 'desc' : 'asc')
    .limit(q.limit)
    .execute();
}
