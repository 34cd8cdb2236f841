import type { ExpectedState } from './expected-state.js';
import type { Findings } from './findings.js';
import { grantKey, groupsText } from './identity-events.js';
import type { StateRows } from './state-rows.js';

/**
 * Accounts, grants and tokens (a team server's): each row as the events that made and changed it
 * say. A grant or a group written into the database would give a role nobody granted; a token row
 * (or a swapped hash) would let its writer sign in as anyone.
 */
export function reconcileIdentity(
  e: ExpectedState,
  rows: Pick<StateRows, 'accounts' | 'grants' | 'tokens'>,
  f: Findings,
): void {
  const accounts = new Set<string>();
  for (const r of rows.accounts ?? []) {
    accounts.add(r.name);
    const v = e.accounts.get(r.name);
    if (!v) {
      f.unvouched('principals', r.name, `(${r.kind})`);
      continue;
    }
    const diffs: string[] = [];
    if (v.value.kind !== null && r.kind !== v.value.kind) diffs.push(`it is a ${r.kind}, not a ${v.value.kind}`);
    const groups = groupsText(safeJson(r.groups));
    if (groups !== v.value.groups) diffs.push(`its groups are ${groups} but the log recorded ${v.value.groups}`);
    if (r.disabled !== v.value.disabled)
      diffs.push(r.disabled ? 'it is disabled but the log never disabled it' : 'the log disabled it but it is enabled');
    f.mismatch('principals', r.name, v, diffs);
  }
  f.missingFrom('principals', e.accounts, accounts);

  const grants = new Set<string>();
  for (const r of rows.grants ?? []) {
    const key = grantKey(r.subject, r.project);
    grants.add(key);
    const v = e.grants.get(key);
    if (!v) f.unvouched('role_grants', key, `(${r.role})`);
    else if (r.role !== v.value)
      f.mismatch('role_grants', key, v, [`it grants ${r.role} but the log recorded ${v.value}`]);
  }
  f.missingFrom('role_grants', e.grants, grants);

  const tokens = new Set<string>();
  for (const r of rows.tokens ?? []) {
    tokens.add(r.id);
    const v = e.tokens.get(r.id);
    if (!v) {
      f.unvouched('api_tokens', r.id, `(of ${r.user})`);
      continue;
    }
    const diffs: string[] = [];
    if (r.user !== v.value.user) diffs.push(`it signs in ${r.user}, but the log issued it to ${v.value.user}`);
    if (r.expires !== v.value.expires)
      diffs.push(`it expires ${r.expires ?? 'never'} but the log recorded ${v.value.expires ?? 'never'}`);
    if (r.revoked !== v.value.revoked)
      diffs.push(r.revoked ? 'it is revoked but the log never revoked it' : 'the log revoked it but it is not revoked');
    if (v.value.secret !== null && r.secretCheck !== v.value.secret)
      diffs.push('its secret hash is not the one it was issued with');
    f.mismatch('api_tokens', r.id, v, diffs);
  }
  f.missingFrom('api_tokens', e.tokens, tokens);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
