import { hex, str, type EventFields } from './event-fields.js';
import type { ExpectedState } from './expected-state.js';
import type { Findings } from './findings.js';
import type { StateRows } from './state-rows.js';

/** What a legal hold or retention row must say: on which version, which kind, until when, why, and whether it was lifted. */
export interface HoldState {
  version: string;
  kind: string | null;
  until: string | null;
  reasonDigest: string | null;
  released: boolean;
}

/** `dataset.hold` places one (its id in `params.hold`); `dataset.hold.release` lifts it. */
export function applyHoldEvent(s: ExpectedState, f: EventFields): void {
  const id = str(f.p.hold);
  if (!f.ok || !id) return;
  if (f.action === 'dataset.hold') {
    s.holds.set(id, {
      index: f.index,
      action: f.action,
      value: {
        version: `${f.name ?? '?'}@v${f.number ?? '?'}`,
        kind: str(f.p.kind),
        until: str(f.p.until),
        reasonDigest: hex(f.p.reasonDigest),
        released: false,
      },
    });
  } else {
    const h = s.holds.get(id);
    if (h) s.holds.set(id, { index: f.index, action: f.action, value: { ...h.value, released: true } });
  }
}

/**
 * Legal holds and retention periods: a row deleted, lifted or shortened in the database would let
 * `data erase` and `gc` destroy what the log says is held.
 */
export function reconcileHolds(e: ExpectedState, rows: StateRows['holds'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows ?? []) {
    seen.add(r.id);
    const v = e.holds.get(r.id);
    if (!v) {
      f.unvouched('version_holds', r.id, `(${r.kind} on ${r.version})`);
      continue;
    }
    const w = v.value;
    const diffs: string[] = [];
    if (r.version !== w.version) diffs.push(`it holds ${r.version} but the log recorded ${w.version}`);
    if (w.kind !== null && r.kind !== w.kind) diffs.push(`it is a ${r.kind} but the log recorded a ${w.kind}`);
    if (r.until !== w.until)
      diffs.push(`it lasts until ${r.until ?? 'released'} but the log recorded ${w.until ?? 'until released'}`);
    if (w.reasonDigest !== null && r.reasonDigest !== w.reasonDigest)
      diffs.push('its reason is not the one the log recorded');
    if (r.released !== w.released)
      diffs.push(r.released ? 'it is lifted but the log never lifted it' : 'the log lifted it but it is active');
    f.mismatch('version_holds', r.id, v, diffs);
  }
  f.missingFrom('version_holds', e.holds, seen);
}
