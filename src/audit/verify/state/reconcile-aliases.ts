import { canonicalJson } from '../../../core/canonical-json.js';
import { approvalKey } from './event-fields.js';
import type { ExpectedState } from './expected-state.js';
import { short, type Findings } from './findings.js';
import type { StateRows } from './state-rows.js';

/** Aliases: each points where the event that last moved it said (or is gone if it removed it). */
export function reconcileAliases(expected: ExpectedState, rows: StateRows['aliases'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.model}@${r.alias}`;
    seen.add(key);
    const v = expected.aliases.get(key);
    const points = r.number === null ? 'points at a version that does not exist' : `points at v${r.number}`;
    if (!v) {
      f.unvouched('model_aliases', key, points);
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
    f.mismatch('model_aliases', key, v, diffs);
  }
  for (const [key, v] of expected.aliases)
    if (!v.value.removed && !seen.has(key)) f.missing('model_aliases', key, v.index, v.action);
}

type HistoryRow = StateRows['aliasHistory'][number];

const movedTo = (x: { versionId: string | null; number: number | null }) =>
  x.versionId === null
    ? 'removed it'
    : x.number === null
      ? `moved it to a version that does not exist`
      : `moved it to v${x.number}`;

/**
 * The alias history: the n-th move of each alias in its history rows is the n-th event that
 * moved it (a forged row there would steer `model rollback`).
 */
export function reconcileAliasHistory(expected: ExpectedState, rows: StateRows['aliasHistory'], f: Findings): void {
  const history = new Map<string, HistoryRow[]>();
  for (const r of rows) {
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
      if (!v) f.unvouched('model_alias_events', k, `(${movedTo(r!)})`);
      else if (!r) f.missing('model_alias_events', k, v.index, v.action);
      else {
        const want = v.value;
        const same = want.removed
          ? r.versionId === null
          : want.versionId !== undefined
            ? r.versionId === want.versionId
            : r.number === want.number && (want.digest === undefined || r.digest === want.digest);
        if (!same)
          f.mismatch('model_alias_events', k, v, [
            `the history says it ${movedTo(r)} but the log recorded ${want.removed ? 'its removal' : want.versionId !== undefined ? `a move to the version row ${want.versionId}` : `a move to v${want.number}`}`,
          ]);
      }
    }
  }
}

/** Approvals: as many rows per (version, alias, approver) as events. */
export function reconcileApprovals(expected: ExpectedState, rows: StateRows['approvals'], f: Findings): void {
  const approvalRows = new Map<string, number>();
  for (const r of rows) {
    const key = approvalKey(r.model, r.number ?? -1, r.alias, r.approver);
    approvalRows.set(key, (approvalRows.get(key) ?? 0) + 1);
  }
  for (const [key, n] of approvalRows) {
    const events = expected.approvals.get(key) ?? [];
    for (let i = events.length; i < n; i++)
      f.unvouched(
        'model_approvals',
        key,
        events.length ? `is recorded ${n} times (the log has ${events.length})` : 'exists',
      );
  }
  for (const [key, events] of expected.approvals) {
    const n = approvalRows.get(key) ?? 0;
    for (let i = n; i < events.length; i++) f.missing('model_approvals', key, events[i]!, 'model.approve');
  }
}

/** Alias policies, compared in canonical form. */
export function reconcilePolicies(expected: ExpectedState, rows: StateRows['policies'], f: Findings): void {
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.model}@${r.alias}`;
    seen.add(key);
    const v = expected.policies.get(key);
    if (!v) {
      f.unvouched('model_policies', key, 'exists');
      continue;
    }
    let stored: string;
    try {
      stored = canonicalJson(JSON.parse(r.policy));
    } catch {
      stored = r.policy;
    }
    f.mismatch('model_policies', key, v, stored === v.value ? [] : [`it is ${stored} but the log recorded ${v.value}`]);
  }
  f.missingFrom('model_policies', expected.policies, seen);
}
