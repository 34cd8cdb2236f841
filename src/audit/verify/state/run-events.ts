import { canonicalJson } from '../../../core/canonical-json.js';
import { committed, hex, recordOf, str, type EventFields, type LoggedEvent } from './event-fields.js';
import type { ExpectedState, RunState } from './expected-state.js';

/** How run events fold into the expected state: a submission or reuse makes the run, the event that ended it sets its status. */
export function applyRunEvent(s: ExpectedState, f: EventFields, e: LoggedEvent): void {
  const { index, action, ok, p, name } = f;
  if (action === 'run.submit' || action === 'run.reuse') {
    // A refused submission (over budget) is recorded with its row; a failed attempt is not.
    const refused = action === 'run.submit' && e.outcome === 'denied' && committed(e);
    if (!name || !(ok || refused)) return;
    const ended =
      action === 'run.reuse'
        ? { status: 'reused', index, action }
        : refused
          ? { status: 'refused', index, action }
          : null;
    const value: RunState = {
      runKey: str(p.runKey),
      name: str(p.runName),
      project: str(p.project),
      specDigest: hex(p.specDigest),
      author: f.actor,
      reusedFrom: action === 'run.reuse' ? str(p.reusedFrom) : null,
      label:
        typeof p.humanName === 'string'
          ? { humanName: p.humanName, tags: canonicalJson(p.tags ?? {}), note: str(p.note) }
          : null,
      ended,
    };
    s.runs.set(name, { index, action, value });
    return;
  }
  const run = name ? s.runs.get(name) : undefined;
  if (!run) return;
  if (action === 'run.finish' && ok) {
    const outs = Array.isArray(e.outputs) ? e.outputs : [];
    run.value.ended = {
      status: 'completed',
      index,
      action,
      outputDigest: outs.length ? hex(outs[0]) : null,
      ...recordOf(p),
    };
  } else if (action === 'run.cancel' && ok) run.value.ended = { status: 'cancelled', index, action, ...recordOf(p) };
  else if (action === 'run.fail' && committed(e) && str(p.state))
    run.value.ended = { status: str(p.state)!, index, action, ...recordOf(p) };
}
