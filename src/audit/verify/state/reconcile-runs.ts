import type { ExpectedState } from './expected-state.js';
import { short, type Findings } from './findings.js';
import type { StateRows } from './state-rows.js';

/** Statuses a run passes through before an event ends it. */
const RUNNING = new Set(['queued', 'pending', 'running']);

type RunRow = StateRows['runs'][number];
type RunWant = NonNullable<ReturnType<ExpectedState['runs']['get']>>;

/** Runs: what their submission recorded, then the status (and output) the event that ended them recorded. */
export function reconcileRuns(expected: ExpectedState, rows: StateRows['runs'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    seen.add(r.id);
    const v = expected.runs.get(r.id);
    if (!v) {
      f.unvouched('runs', r.id, `(${r.name}, ${r.status})`);
      continue;
    }
    const diffs = submissionDiffs(r, v);
    f.mismatch('runs', r.id, v, diffs);
    if (!diffs.length) reconcileEnd(r, v, f);
  }
  f.missingFrom('runs', expected.runs, seen);
}

function submissionDiffs(r: RunRow, v: RunWant): string[] {
  const want = v.value;
  const diffs: string[] = [];
  if (want.runKey !== null && r.runKey !== want.runKey)
    diffs.push(`its run key is ${short(r.runKey)} but the log recorded ${short(want.runKey)}`);
  if (want.specDigest !== null && r.specDigest !== want.specDigest)
    diffs.push(`its spec is ${short(r.specDigest)} but the log recorded ${short(want.specDigest)}`);
  if (want.name !== null && r.name !== want.name) diffs.push(`its name is ${r.name} but the log recorded ${want.name}`);
  if (want.project !== null && r.project !== want.project)
    diffs.push(`its project is ${r.project} but the log recorded ${want.project}`);
  if (want.author !== null && r.author !== want.author)
    diffs.push(`it was submitted by ${want.author}, not ${r.author}`);
  if (want.reusedFrom !== null && r.reusedFrom !== want.reusedFrom)
    diffs.push(`it reuses ${r.reusedFrom ?? 'nothing'} but the log recorded ${want.reusedFrom}`);
  const l = want.label;
  if (l && r.humanName !== l.humanName) diffs.push(`its name is ${r.humanName} but the log recorded ${l.humanName}`);
  if (l && r.tags !== l.tags) diffs.push(`its tags are ${r.tags} but the log recorded ${l.tags}`);
  if (l && r.note !== l.note) diffs.push('its note differs from the one the log recorded');
  // Marked as imported: the import event must have recorded it so, with the same origin (and a
  // run the log submitted here may not be passed off as someone else's).
  const imp = want.imported;
  if (r.imported !== undefined) {
    if (r.imported && !imp) diffs.push('it is marked as imported, but the log recorded it was submitted here');
    else if (!r.imported && imp) diffs.push('the log recorded it as imported, but its import record is missing');
    else if (
      r.imported &&
      imp &&
      (r.imported.origin !== imp.origin || r.imported.index !== imp.index || r.imported.author !== imp.author)
    )
      diffs.push(
        `its import record names ${r.imported.author} at ${r.imported.origin} #${r.imported.index}, but the log recorded ${imp.author} at ${imp.origin} #${imp.index}`,
      );
  }
  return diffs;
}

function reconcileEnd(r: RunRow, v: RunWant, f: Findings): void {
  const end = v.value.ended;
  if (!end) {
    if (!RUNNING.has(r.status))
      f.mismatch('runs', r.id, v, [`its status is ${r.status} but no event in the log ended it`]);
  } else if (r.status !== end.status) {
    f.mismatch('runs', r.id, end, [`its status is ${r.status} but the log recorded ${end.status}`]);
  } else if (end.outputDigest !== undefined && r.outputDigest !== end.outputDigest) {
    f.mismatch('runs', r.id, end, [
      `its output is ${short(r.outputDigest)} but the log recorded ${short(end.outputDigest)}`,
    ]);
  } else if (end.record && r.record) {
    // The points and parameters are what `run compare`, a model card and a push show of the run.
    const diffs: string[] = [];
    if (r.record.metricsDigest !== end.record.metricsDigest)
      diffs.push(`its metric points are not the ones the log recorded (${short(end.record.metricsDigest)})`);
    if (r.record.paramsDigest !== end.record.paramsDigest)
      diffs.push(`its parameters are not the ones the log recorded (${short(end.record.paramsDigest)})`);
    f.mismatch('runs', r.id, end, diffs);
  }
}
