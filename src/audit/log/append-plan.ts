import { uuidv7 } from '../../core/ids.js';
import { isoUtc, type Clock } from '../../core/time.js';
import type { AuditEventRow } from '../../meta/schema.js';
import type { AuditOutcome } from '../actions.js';
import { type AuditContext, type AuditEvent, buildEvent, type EventDraft, encodeEvent } from '../event.js';
import { type Frontier, leafHashOfText } from '../merkle/index.js';

export interface AppendedEvent {
  index: number;
  leafHash: string;
  event: AuditEvent;
}

export interface AppendPlan {
  rows: AuditEventRow[];
  nodes: Array<{ level: number; idx: number; hash: string }>;
  out: AppendedEvent[];
  /** The leaf hash of the last new entry (what the head records as the last leaf). */
  lastLeaf: string | null;
}

/**
 * The rows a batch of events becomes: each event built (and refused if it would carry a
 * secret), encoded, hashed and chained to the one before; `frontier` grows by their leaves and
 * yields the interior nodes to store. Pure but for ids and time; the caller writes the plan.
 */
export function planAppend(
  frontier: Frontier,
  prev: string | null,
  ctx: AuditContext,
  clock: Clock,
  items: ReadonlyArray<{ draft: EventDraft; outcome: AuditOutcome; reason?: string; context?: AuditContext }>,
): AppendPlan {
  const plan: AppendPlan = { rows: [], nodes: [], out: [], lastLeaf: prev };
  for (const item of items) {
    const index = frontier.size;
    // One reading of the clock for both: the id's millisecond is the event's time, even when
    // the clock ticks in between.
    const now = clock.now();
    // A batch may gather events of several requests (a server's group commit), each with its own actor.
    const event = buildEvent(item.context ?? ctx, item.draft, {
      index,
      prev: plan.lastLeaf,
      id: uuidv7(now.getTime()),
      time: isoUtc(now),
      outcome: item.outcome,
      ...(item.reason !== undefined ? { reason: item.reason } : {}),
    });
    const entry = encodeEvent(event);
    const leaf = leafHashOfText(entry);
    for (const n of frontier.append(leaf))
      plan.nodes.push({ level: n.level, idx: n.index, hash: n.hash.toString('hex') });
    const leafHex = leaf.toString('hex');
    plan.rows.push({
      idx: index,
      event_id: event.id,
      time: event.time,
      actor: event.actor.id,
      action: event.action,
      target_type: event.target.type,
      target_name: event.target.name ?? null,
      outcome: event.outcome,
      leaf_hash: leafHex,
      entry,
    });
    plan.out.push({ index, leafHash: leafHex, event });
    plan.lastLeaf = leafHex;
  }
  return plan;
}
