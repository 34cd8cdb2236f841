import { canonicalJson } from '../../../core/canonical-json.js';
import type { VerifyProblem } from '../log-verifier.js';
import { approvalKey, type ExpectedState, type Vouched } from './expected-state.js';
import type { StateRows, StateTable } from './state-rows.js';

export interface StateProblem extends VerifyProblem {
  kind: 'state-mismatch' | 'state-unvouched' | 'state-missing';
  table: StateTable;
  key: string;
}

/** A row the log cannot vouch for either way (imported before imports were itemised). */
export interface UnverifiableRow {
  table: StateTable;
  key: string;
  index: number;
  message: string;
}

export interface StateReconciliation {
  problems: StateProblem[];
  unverifiable: UnverifiableRow[];
  /** Rows compared, per table. */
  rows: Record<StateTable, number>;
}

/** Statuses a run passes through before an event ends it. */
const RUNNING = new Set(['queued', 'pending', 'running']);

const short = (d: string | null | undefined) => (d ? `sha256:${d.slice(0, 12)}…` : 'nothing');

/**
 * Compares the current rows with what the log says they must be. A row that differs from
 * the event that created or last moved it is `state-mismatch` (at that event's index); a row
 * no event accounts for is `state-unvouched`; a row an event created that is gone is
 * `state-missing`. Pure: the caller streams the events into `expected` and reads `rows` from
 * the same database snapshot.
 */
export function reconcileState(expected: ExpectedState, rows: StateRows): StateReconciliation {
  const problems: StateProblem[] = [];
  const unverifiable: UnverifiableRow[] = [];
  const mismatch = (table: StateTable, key: string, v: Vouched<unknown>, diffs: string[]) => {
    if (diffs.length)
      problems.push({
        index: v.index,
        kind: 'state-mismatch',
        table,
        key,
        message: `${table} ${key} differs from entry ${v.index} (${v.action}): ${diffs.join('; ')}`,
      });
  };
  const unvouched = (table: StateTable, key: string, what: string) =>
    problems.push({
      index: null,
      kind: 'state-unvouched',
      table,
      key,
      message: `${table} ${key} ${what}, but no event in the log accounts for it (written to the database directly?)`,
    });
  const missing = (table: StateTable, key: string, index: number, action: string) =>
    problems.push({
      index,
      kind: 'state-missing',
      table,
      key,
      message: `${table} ${key}, recorded by entry ${index} (${action}), is missing from the database`,
    });

  // Dataset versions (the biggest table: no allocation per row unless it differs).
  let matchedVersions = 0;
  const unaccounted: Array<{ key: string }> = [];
  for (const r of rows.datasetVersions) {
    const key = `${r.dataset}@v${r.number}`;
    const v = expected.datasetVersions.get(key);
    if (!v) {
      unaccounted.push({ key });
      continue;
    }
    matchedVersions++;
    if (r.digest === v.value.digest && (v.value.author === null || r.author === v.value.author)) continue;
    const diffs: string[] = [];
    if (r.digest !== v.value.digest)
      diffs.push(`its tree is ${short(r.digest)} but the log recorded ${short(v.value.digest)}`);
    if (v.value.author !== null && r.author !== v.value.author)
      diffs.push(`its author is ${r.author} but the log recorded ${v.value.author}`);
    mismatch('dataset_versions', key, v, diffs);
  }
  // Versions imported before imports were itemised cannot be told apart from forged rows: while
  // their number fits what those imports counted they are listed as unverifiable; beyond it,
  // every one of them is reported.
  const allowance = expected.uncountedImports.reduce((n, i) => n + i.versions, 0);
  if (unaccounted.length && unaccounted.length <= allowance) {
    const at = expected.uncountedImports[expected.uncountedImports.length - 1]!.index;
    for (const u of unaccounted)
      unverifiable.push({
        table: 'dataset_versions',
        key: u.key,
        index: at,
        message: `dataset_versions ${u.key} was presumably imported by a pull or clone recorded before events listed the versions they imported; it cannot be reconciled`,
      });
  } else for (const u of unaccounted) unvouched('dataset_versions', u.key, 'exists');
  // Rows are unique per name and number, so a shortfall means some are gone: only then look for them.
  if (matchedVersions < expected.datasetVersions.size) {
    const present = new Set(rows.datasetVersions.map((r) => `${r.dataset}@v${r.number}`));
    for (const [key, v] of expected.datasetVersions)
      if (!present.has(key)) missing('dataset_versions', key, v.index, v.action);
  }

  // Dataset tags. An import that did not list the tags it set may have moved any tag after
  // the event that last set it: a difference after such an import is unverifiable.
  const lastTagImport = expected.tagImports.length ? expected.tagImports[expected.tagImports.length - 1]! : -1;
  let matchedTags = 0;
  for (const r of rows.datasetTags) {
    const key = `${r.dataset}@${r.tag}`;
    const v = expected.datasetTags.get(key);
    if (v) matchedTags++;
    if (v && r.number === v.value.number && (v.value.digest === null || r.digest === v.value.digest)) continue;
    const points = r.number === null ? 'points at a version that does not exist' : `points at v${r.number}`;
    if (!v) {
      if (lastTagImport >= 0)
        unverifiable.push({
          table: 'dataset_tags',
          key,
          index: lastTagImport,
          message: `dataset_tags ${key} ${points}; no local event set it, and it may have come with the import at entry ${lastTagImport}, which did not list the tags it set`,
        });
      else unvouched('dataset_tags', key, points);
      continue;
    }
    if (lastTagImport > v.index) {
      unverifiable.push({
        table: 'dataset_tags',
        key,
        index: lastTagImport,
        message: `dataset_tags ${key} ${points}; the import at entry ${lastTagImport} may have moved it (it did not list the tags it set)`,
      });
      continue;
    }
    mismatch('dataset_tags', key, v, [
      r.number !== v.value.number
        ? `it ${points} but the log recorded v${v.value.number}`
        : `its version's tree is ${short(r.digest)} but the log recorded ${short(v.value.digest)}`,
    ]);
  }
  if (matchedTags < expected.datasetTags.size) {
    const present = new Set(rows.datasetTags.map((r) => `${r.dataset}@${r.tag}`));
    for (const [key, v] of expected.datasetTags)
      if (!present.has(key) && !(lastTagImport > v.index)) missing('dataset_tags', key, v.index, v.action);
  }

  // Model versions: the row, and the files it points at, must be what was registered.
  const seenModels = new Set<string>();
  for (const r of rows.modelVersions) {
    const key = `${r.model}@v${r.number}`;
    seenModels.add(key);
    const v = expected.modelVersions.get(key);
    if (!v) {
      unvouched('model_versions', key, `exists (${short(r.digest)})`);
      continue;
    }
    const diffs: string[] = [];
    if (r.digest !== v.value.digest)
      diffs.push(`its digest is ${short(r.digest)} but the log recorded ${short(v.value.digest)}`);
    if (r.filesDigest !== v.value.digest)
      diffs.push(
        r.filesDigest === null
          ? 'the dataset version holding its files is gone'
          : `its files are the tree ${short(r.filesDigest)}, not the ${short(v.value.digest)} the log recorded`,
      );
    if (v.value.author !== null && r.author !== v.value.author)
      diffs.push(`it was registered by ${v.value.author}, not ${r.author}`);
    if (v.value.run !== undefined && r.run !== v.value.run)
      diffs.push(`its run is ${r.run ?? 'none'} but the log recorded ${v.value.run ?? 'none'}`);
    if (v.value.format !== undefined && r.format !== v.value.format)
      diffs.push(`its format is ${r.format} but the log recorded ${v.value.format}`);
    mismatch('model_versions', key, v, diffs);
  }
  for (const [key, v] of expected.modelVersions)
    if (!seenModels.has(key)) missing('model_versions', key, v.index, v.action);

  // Aliases.
  const seenAliases = new Set<string>();
  for (const r of rows.aliases) {
    const key = `${r.model}@${r.alias}`;
    seenAliases.add(key);
    const v = expected.aliases.get(key);
    const points = r.number === null ? 'points at a version that does not exist' : `points at v${r.number}`;
    if (!v) {
      unvouched('model_aliases', key, points);
      continue;
    }
    const want = v.value;
    const diffs: string[] = [];
    if (want.removed) diffs.push(`it ${points} but the log removed it`);
    else if (want.versionId !== undefined) {
      if (r.versionId !== want.versionId)
        diffs.push(`it ${points} (row ${r.versionId}) but the log recorded the version row ${want.versionId}`);
    } else if (r.number !== want.number) diffs.push(`it ${points} but the log recorded v${want.number}`);
    else if (want.digest !== undefined && r.digest !== want.digest)
      diffs.push(`its version is ${short(r.digest)} but the log recorded ${short(want.digest)}`);
    mismatch('model_aliases', key, v, diffs);
  }
  for (const [key, v] of expected.aliases)
    if (!v.value.removed && !seenAliases.has(key)) missing('model_aliases', key, v.index, v.action);

  // The alias history: the n-th move of each alias in its history rows is the n-th event that
  // moved it (a forged row there would steer `model rollback`).
  const history = new Map<string, StateRows['aliasHistory']>();
  for (const r of rows.aliasHistory) {
    const key = `${r.model}@${r.alias}`;
    const list = history.get(key);
    if (list) list.push(r);
    else history.set(key, [r]);
  }
  for (const key of new Set([...history.keys(), ...expected.aliasMoves.keys()])) {
    const made = history.get(key) ?? [];
    const moves = expected.aliasMoves.get(key) ?? [];
    for (let i = 0; i < Math.max(made.length, moves.length); i++) {
      const r = made[i];
      const v = moves[i];
      const k = `${key} #${i + 1}`;
      const to = (x: { versionId: string | null; number: number | null }) =>
        x.versionId === null
          ? 'removed it'
          : x.number === null
            ? `moved it to a version that does not exist`
            : `moved it to v${x.number}`;
      if (!v) unvouched('model_alias_events', k, `(${to(r!)})`);
      else if (!r) missing('model_alias_events', k, v.index, v.action);
      else {
        const want = v.value;
        const same = want.removed
          ? r.versionId === null
          : want.versionId !== undefined
            ? r.versionId === want.versionId
            : r.number === want.number && (want.digest === undefined || r.digest === want.digest);
        if (!same)
          mismatch('model_alias_events', k, v, [
            `the history says it ${to(r)} but the log recorded ${want.removed ? 'its removal' : want.versionId !== undefined ? `a move to the version row ${want.versionId}` : `a move to v${want.number}`}`,
          ]);
      }
    }
  }

  // Approvals: as many rows per (version, alias, approver) as events.
  const approvalRows = new Map<string, number>();
  for (const r of rows.approvals) {
    const key = approvalKey(r.model, r.number ?? -1, r.alias, r.approver);
    approvalRows.set(key, (approvalRows.get(key) ?? 0) + 1);
  }
  for (const [key, n] of approvalRows) {
    const events = expected.approvals.get(key) ?? [];
    for (let i = events.length; i < n; i++)
      unvouched(
        'model_approvals',
        key,
        events.length ? `is recorded ${n} times (the log has ${events.length})` : 'exists',
      );
  }
  for (const [key, events] of expected.approvals) {
    const n = approvalRows.get(key) ?? 0;
    for (let i = n; i < events.length; i++) missing('model_approvals', key, events[i]!, 'model.approve');
  }

  // Alias policies.
  const seenPolicies = new Set<string>();
  for (const r of rows.policies) {
    const key = `${r.model}@${r.alias}`;
    seenPolicies.add(key);
    const v = expected.policies.get(key);
    if (!v) {
      unvouched('model_policies', key, 'exists');
      continue;
    }
    let stored: string;
    try {
      stored = canonicalJson(JSON.parse(r.policy));
    } catch {
      stored = r.policy;
    }
    mismatch('model_policies', key, v, stored === v.value ? [] : [`it is ${stored} but the log recorded ${v.value}`]);
  }
  for (const [key, v] of expected.policies)
    if (!seenPolicies.has(key)) missing('model_policies', key, v.index, v.action);

  // Evaluations, by the digest of their report (which the event names).
  const seenEvaluations = new Set<string>();
  for (const r of rows.evaluations) {
    const key = `${r.id} (report ${short(r.reportDigest)})`;
    seenEvaluations.add(r.reportDigest);
    const v = expected.evaluations.get(r.reportDigest);
    if (!v) {
      unvouched(
        'model_evaluations',
        key,
        `(${r.model}@v${r.number ?? '?'}, suite ${r.suite}, ${r.passed ? 'passed' : 'failed'})`,
      );
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
    mismatch('model_evaluations', key, v, diffs);
  }
  for (const [digest, v] of expected.evaluations)
    if (!seenEvaluations.has(digest))
      missing(
        'model_evaluations',
        `report ${short(digest)} (${v.value.model}@v${v.value.number ?? '?'}, suite ${v.value.suite ?? '?'})`,
        v.index,
        v.action,
      );

  // Deployments.
  const seenDeployments = new Set<string>();
  for (const r of rows.deployments) {
    seenDeployments.add(r.id);
    const v = expected.deployments.get(r.id);
    if (!v) {
      unvouched('deployments', r.id, `(${r.model}@v${r.number ?? '?'} to ${r.env}, ${r.status})`);
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
    if (diffs.length) mismatch('deployments', r.id, v, diffs);
    else if (r.status !== want.status)
      mismatch('deployments', r.id, { ...v, index: want.statusIndex }, [
        `its status is ${r.status} but the log recorded ${want.status}`,
      ]);
  }
  for (const [id, v] of expected.deployments)
    if (!seenDeployments.has(id)) missing('deployments', id, v.index, v.action);

  // Runs.
  const seenRuns = new Set<string>();
  for (const r of rows.runs) {
    seenRuns.add(r.id);
    const v = expected.runs.get(r.id);
    if (!v) {
      unvouched('runs', r.id, `(${r.name}, ${r.status})`);
      continue;
    }
    const want = v.value;
    const diffs: string[] = [];
    if (want.runKey !== null && r.runKey !== want.runKey)
      diffs.push(`its run key is ${short(r.runKey)} but the log recorded ${short(want.runKey)}`);
    if (want.specDigest !== null && r.specDigest !== want.specDigest)
      diffs.push(`its spec is ${short(r.specDigest)} but the log recorded ${short(want.specDigest)}`);
    if (want.name !== null && r.name !== want.name)
      diffs.push(`its name is ${r.name} but the log recorded ${want.name}`);
    if (want.project !== null && r.project !== want.project)
      diffs.push(`its project is ${r.project} but the log recorded ${want.project}`);
    if (want.author !== null && r.author !== want.author)
      diffs.push(`it was submitted by ${want.author}, not ${r.author}`);
    if (want.reusedFrom !== null && r.reusedFrom !== want.reusedFrom)
      diffs.push(`it reuses ${r.reusedFrom ?? 'nothing'} but the log recorded ${want.reusedFrom}`);
    mismatch('runs', r.id, v, diffs);
    if (diffs.length) continue;
    const end = want.ended;
    if (!end) {
      if (!RUNNING.has(r.status))
        mismatch('runs', r.id, v, [`its status is ${r.status} but no event in the log ended it`]);
    } else if (r.status !== end.status) {
      mismatch('runs', r.id, { index: end.index, action: end.action, value: null }, [
        `its status is ${r.status} but the log recorded ${end.status}`,
      ]);
    } else if (end.outputDigest !== undefined && r.outputDigest !== end.outputDigest) {
      mismatch('runs', r.id, { index: end.index, action: end.action, value: null }, [
        `its output is ${short(r.outputDigest)} but the log recorded ${short(end.outputDigest)}`,
      ]);
    }
  }
  for (const [id, v] of expected.runs) if (!seenRuns.has(id)) missing('runs', id, v.index, v.action);

  // Releases: each release record is matched to one release event of its version with its key.
  const releaseRows = new Map<string, string[]>();
  for (const r of rows.releases) {
    const key = `${r.model}@v${r.number ?? '?'}`;
    releaseRows.set(key, [...(releaseRows.get(key) ?? []), r.release]);
  }
  const matches = (e: { keyid: string | null; release: string | null }, release: string) =>
    e.release !== null ? e.release === release : e.keyid !== null && release.startsWith(`${e.keyid}:`);
  for (const key of new Set([...releaseRows.keys(), ...expected.releases.keys()])) {
    const events = [...(expected.releases.get(key) ?? [])];
    for (const release of releaseRows.get(key) ?? []) {
      const at = events.findIndex((e) => matches(e, release));
      if (at < 0) unvouched('releases', `${key} ${release}`, 'is recorded as released');
      else events.splice(at, 1);
    }
    for (const e of events)
      missing('releases', `${key} ${e.release ?? `key ${e.keyid ?? '?'}`}`, e.index, 'model.release');
  }

  // In log order; rows no event accounts for last.
  problems.sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
  const rowCounts: Record<StateTable, number> = {
    dataset_versions: rows.datasetVersions.length,
    dataset_tags: rows.datasetTags.length,
    model_versions: rows.modelVersions.length,
    model_aliases: rows.aliases.length,
    model_alias_events: rows.aliasHistory.length,
    model_approvals: rows.approvals.length,
    model_policies: rows.policies.length,
    model_evaluations: rows.evaluations.length,
    deployments: rows.deployments.length,
    runs: rows.runs.length,
    releases: rows.releases.length,
  };
  return { problems, unverifiable, rows: rowCounts };
}
