import type { VersionHoldsTable } from '../meta/schema.js';

/** A hold as shown to people. */
export interface HoldView {
  id: string;
  ref: string;
  kind: 'hold' | 'retention';
  reason: string;
  until: string | null;
  createdAt: string;
  createdBy: string;
  releasedAt: string | null;
  releasedBy: string | null;
  /** Whether it protects the version now. */
  active: boolean;
}

/**
 * Whether a hold protects its version at `now` (pure): a legal hold until it is released, a
 * retention period until its end passes. A retention period cannot be released early: that is
 * what makes it a period.
 */
export function holdIsActive(h: Pick<VersionHoldsTable, 'kind' | 'released_at' | 'retain_until'>, now: Date): boolean {
  if (h.kind === 'retention') return h.retain_until !== null && Date.parse(h.retain_until) > now.getTime();
  return h.released_at === null;
}

export function holdView(h: VersionHoldsTable, ref: string, now: Date): HoldView {
  return {
    id: h.id,
    ref,
    kind: h.kind === 'retention' ? 'retention' : 'hold',
    reason: h.reason,
    until: h.retain_until,
    createdAt: h.created_at,
    createdBy: h.created_by,
    releasedAt: h.released_at,
    releasedBy: h.released_by,
    active: holdIsActive(h, now),
  };
}

/** Parses `--retain-until`: a date (end of that day, UTC) or a full ISO time; it must lie ahead of `now`. */
export function parseRetainUntil(text: string, now: Date): Date | { problem: string } {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T23:59:59.999Z` : text;
  const ms = Date.parse(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms))
    return { problem: `${JSON.stringify(text)} is not a date (YYYY-MM-DD) or an ISO-8601 time` };
  if (ms <= now.getTime()) return { problem: `${text} is not in the future: a retention period must end later` };
  return new Date(ms);
}
