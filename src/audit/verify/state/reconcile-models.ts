import type { ExpectedState } from './expected-state.js';
import { short, type Findings } from './findings.js';
import type { StateRows } from './state-rows.js';

/** Model versions: the row, and the files it points at, must be what was registered. */
export function reconcileModelVersions(expected: ExpectedState, rows: StateRows['modelVersions'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.model}@v${r.number}`;
    seen.add(key);
    const v = expected.modelVersions.get(key);
    if (!v) {
      f.unvouched('model_versions', key, `exists (${short(r.digest)})`);
      continue;
    }
    const want = v.value;
    const diffs: string[] = [];
    if (r.digest !== want.digest)
      diffs.push(`its digest is ${short(r.digest)} but the log recorded ${short(want.digest)}`);
    if (r.filesDigest !== want.digest)
      diffs.push(
        r.filesDigest === null
          ? 'the dataset version holding its files is gone'
          : `its files are the tree ${short(r.filesDigest)}, not the ${short(want.digest)} the log recorded`,
      );
    if (want.author !== null && r.author !== want.author)
      diffs.push(`it was registered by ${want.author}, not ${r.author}`);
    if (want.run !== undefined && r.run !== want.run)
      diffs.push(`its run is ${r.run ?? 'none'} but the log recorded ${want.run ?? 'none'}`);
    if (want.format !== undefined && r.format !== want.format)
      diffs.push(`its format is ${r.format} but the log recorded ${want.format}`);
    f.mismatch('model_versions', key, v, diffs);
  }
  f.missingFrom('model_versions', expected.modelVersions, seen);
}

/** Evaluations, by the digest of their report (which the event names). */
export function reconcileEvaluations(expected: ExpectedState, rows: StateRows['evaluations'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.id} (report ${short(r.reportDigest)})`;
    seen.add(r.reportDigest);
    const v = expected.evaluations.get(r.reportDigest);
    if (!v) {
      const what = `(${r.model}@v${r.number ?? '?'}, suite ${r.suite}, ${r.passed ? 'passed' : 'failed'})`;
      f.unvouched('model_evaluations', key, what);
      continue;
    }
    const want = v.value;
    const diffs: string[] = [];
    if (r.model !== want.model || (want.number !== null && r.number !== want.number))
      diffs.push(`it is for ${r.model}@v${r.number ?? '?'} but the log recorded ${want.model}@v${want.number ?? '?'}`);
    if (want.suite !== null && r.suite !== want.suite)
      diffs.push(`its suite is ${r.suite} but the log recorded ${want.suite}`);
    if (want.suiteDigest !== null && r.suiteDigest !== want.suiteDigest)
      diffs.push(`its suite digest is ${short(r.suiteDigest)} but the log recorded ${short(want.suiteDigest)}`);
    if (want.passed !== null && r.passed !== want.passed)
      diffs.push(
        `it ${r.passed ? 'passed' : 'failed'} but the log recorded that it ${want.passed ? 'passed' : 'failed'}`,
      );
    f.mismatch('model_evaluations', key, v, diffs);
  }
  for (const [digest, v] of expected.evaluations)
    if (!seen.has(digest)) {
      const key = `report ${short(digest)} (${v.value.model}@v${v.value.number ?? '?'}, suite ${v.value.suite ?? '?'})`;
      f.missing('model_evaluations', key, v.index, v.action);
    }
}

/** Deployments: what was deployed where and by whom, then the status the latest event set. */
export function reconcileDeployments(expected: ExpectedState, rows: StateRows['deployments'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    seen.add(r.id);
    const v = expected.deployments.get(r.id);
    if (!v) {
      f.unvouched('deployments', r.id, `(${r.model}@v${r.number ?? '?'} to ${r.env}, ${r.status})`);
      continue;
    }
    const want = v.value;
    const diffs: string[] = [];
    if (r.model !== want.model || (want.number !== null && r.number !== want.number))
      diffs.push(`it deploys ${r.model}@v${r.number ?? '?'} but the log recorded ${want.model}@v${want.number ?? '?'}`);
    else if (want.digest !== null && r.digest !== want.digest)
      diffs.push(`its version is ${short(r.digest)} but the log recorded ${short(want.digest)}`);
    if (want.env !== null && r.env !== want.env)
      diffs.push(`its environment is ${r.env} but the log recorded ${want.env}`);
    if (r.alias !== want.alias)
      diffs.push(`its alias is ${r.alias ?? 'none'} but the log recorded ${want.alias ?? 'none'}`);
    if (want.by !== null && r.by !== want.by) diffs.push(`it was started by ${want.by}, not ${r.by}`);
    if (diffs.length) f.mismatch('deployments', r.id, v, diffs);
    else if (r.status !== want.status)
      f.mismatch('deployments', r.id, { ...v, index: want.statusIndex }, [
        `its status is ${r.status} but the log recorded ${want.status}`,
      ]);
  }
  f.missingFrom('deployments', expected.deployments, seen);
}

/** Releases: each release record is matched to one release event of its version with its key. */
export function reconcileReleases(expected: ExpectedState, rows: StateRows['releases'], f: Findings): void {
  const releaseRows = new Map<string, string[]>();
  for (const r of rows) {
    const key = `${r.model}@v${r.number ?? '?'}`;
    releaseRows.set(key, [...(releaseRows.get(key) ?? []), r.release]);
  }
  const matches = (e: { keyid: string | null; release: string | null }, release: string) =>
    e.release !== null ? e.release === release : e.keyid !== null && release.startsWith(`${e.keyid}:`);
  for (const key of new Set([...releaseRows.keys(), ...expected.releases.keys()])) {
    const events = [...(expected.releases.get(key) ?? [])];
    for (const release of releaseRows.get(key) ?? []) {
      const at = events.findIndex((e) => matches(e, release));
      if (at < 0) f.unvouched('releases', `${key} ${release}`, 'is recorded as released');
      else events.splice(at, 1);
    }
    for (const e of events)
      f.missing('releases', `${key} ${e.release ?? `key ${e.keyid ?? '?'}`}`, e.index, 'model.release');
  }
}
