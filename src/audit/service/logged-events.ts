import type { AuditAction } from '../actions.js';
import type { AuditEvent } from '../event.js';
import type { AuditLog } from '../log/audit-log.js';
import { leafHashOfText, verifyInclusion } from '../merkle/index.js';
import type { ReadDb } from '../../meta/read-db.js';

/** An event read back from the log, with how its place in the log was established. */
export interface VouchingEvent {
  index: number;
  event: AuditEvent;
  /**
   * `checkpoint`: included in the latest signed checkpoint (inclusion proof checked against
   * its signed root); `tail`: appended after it, bound only by its leaf hash and the next
   * entry's link to it (the next command signs a checkpoint over it).
   */
  proof: 'checkpoint' | 'tail';
}

export interface LoggedEventsResult {
  events: VouchingEvent[];
  /** Candidate entries that do not check out (edited, or not in the signed tree). */
  problems: Array<{ index: number; message: string }>;
}

/**
 * The events of `action` about target `name` whose entries check out, oldest first. The
 * indexed columns only narrow the search; what counts is the entry itself, after its bytes
 * hash to the leaf and the leaf is proven in the latest signed checkpoint. A forged column
 * can hide an event (callers then find nothing to vouch for a row, and refuse) but never make
 * one up; an entry edited in place is reported, not returned.
 */
export async function loggedEvents(
  deps: { meta: { db: ReadDb }; audit: AuditLog },
  action: AuditAction,
  name: string,
  /** Which of the parsed events the caller asks about: only those are proven (a proof costs log-n reads). */
  wanted: (event: AuditEvent) => boolean = () => true,
): Promise<LoggedEventsResult> {
  const rows = await deps.meta.db
    .selectFrom('audit_events')
    .select(['idx', 'entry', 'leaf_hash'])
    .where('action', '=', action)
    .where('target_name', '=', name)
    .orderBy('idx')
    .execute();
  const out: LoggedEventsResult = { events: [], problems: [] };
  if (!rows.length) return out;
  // Entries below the latest checkpoint are proven against it; `prove` then reuses a
  // checkpoint that covers them and never signs one (a check must not write).
  const latest = await deps.audit.latestCheckpoint();
  const covered = latest?.size ?? 0;
  for (const r of rows) {
    const index = Number(r.idx);
    const leaf = leafHashOfText(r.entry);
    if (leaf.toString('hex') !== r.leaf_hash) {
      out.problems.push({ index, message: `entry ${index} was changed: its bytes no longer match its leaf hash` });
      continue;
    }
    let event: AuditEvent;
    try {
      event = JSON.parse(r.entry) as AuditEvent;
    } catch {
      out.problems.push({ index, message: `entry ${index} is not valid JSON` });
      continue;
    }
    if (event.index !== index || event.action !== action || event.target?.name !== name) continue;
    if (!wanted(event)) continue;
    if (index < covered) {
      const p = await deps.audit.prove(index, r.entry, r.leaf_hash, latest);
      let proven = false;
      try {
        const { checkpoint } = deps.audit.openOwnCheckpoint(p.checkpoint);
        proven =
          checkpoint.size === p.treeSize &&
          verifyInclusion(
            leaf,
            index,
            checkpoint.size,
            p.proof.map((h) => Buffer.from(h, 'hex')),
            checkpoint.rootHash,
          );
      } catch {
        proven = false;
      }
      if (!proven) {
        out.problems.push({
          index,
          message: `entry ${index} is not in the log's latest signed checkpoint (the stored log was rewritten, or the checkpoint does not verify)`,
        });
        continue;
      }
      out.events.push({ index, event, proof: 'checkpoint' });
    } else {
      const next = await deps.meta.db
        .selectFrom('audit_events')
        .select('entry')
        .where('idx', '=', index + 1)
        .executeTakeFirst();
      if (next && prevOf(next.entry) !== r.leaf_hash) {
        out.problems.push({
          index,
          message: `entry ${index + 1} does not link to entry ${index} (the stored log was rewritten)`,
        });
        continue;
      }
      out.events.push({ index, event, proof: 'tail' });
    }
  }
  return out;
}

function prevOf(entry: string): unknown {
  try {
    return (JSON.parse(entry) as { prev?: unknown }).prev;
  } catch {
    return undefined;
  }
}
