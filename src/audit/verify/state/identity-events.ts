import type { EventFields } from './event-fields.js';
import { hex, str } from './event-fields.js';
import type { ExpectedState } from './expected-state.js';

/** What an account row must say: its kind, its groups (sorted JSON) and whether it is disabled. */
export interface AccountState {
  kind: string | null;
  groups: string;
  disabled: boolean;
}

/** What a token row must say; `secret`: the SHA-256 (hex) of its stored hash, when the event logged one. */
export interface TokenState {
  user: string;
  expires: string | null;
  revoked: boolean;
  secret: string | null;
}

export const IDENTITY_ACTIONS: ReadonlySet<string> = new Set([
  'server.user.add',
  'server.user.disable',
  'server.grant',
  'server.token.create',
  'server.token.revoke',
]);

/** A grant's key in the expected state and in findings: `user:bob on default`. */
export const grantKey = (subject: string, project: string) => `${subject} on ${project}`;

/** Groups as a row and an event both say them: unique, sorted, as JSON. */
export function groupsText(v: unknown): string {
  const list = Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
  return JSON.stringify([...new Set(list)].sort());
}

/**
 * How a team server's identity events fold into the expected state: accounts, grants and tokens
 * (who may sign in, and with which role), which a database write could otherwise change unseen.
 */
export function applyIdentityEvent(s: ExpectedState, f: EventFields): void {
  const { index, action, ok, p, name } = f;
  if (!ok || !name) return;
  switch (action) {
    case 'server.user.add': {
      s.accounts.set(name, {
        index,
        action,
        value: { kind: str(p.kind), groups: groupsText(p.groups), disabled: false },
      });
      const role = str(p.role);
      if (role) s.grants.set(grantKey(`user:${name}`, str(p.project) ?? '*'), { index, action, value: role });
      break;
    }
    case 'server.user.disable': {
      const a = s.accounts.get(name);
      if (a) s.accounts.set(name, { index, action, value: { ...a.value, disabled: true } });
      break;
    }
    case 'server.grant': {
      const project = str(p.project);
      const role = str(p.role);
      if (!project || !role) break;
      if (role === 'none') s.grants.delete(grantKey(name, project));
      else s.grants.set(grantKey(name, project), { index, action, value: role });
      break;
    }
    case 'server.token.create': {
      const id = str(p.token);
      if (id)
        s.tokens.set(id, {
          index,
          action,
          value: { user: name, expires: str(p.expires), revoked: false, secret: hex(p.secretCheck) },
        });
      break;
    }
    case 'server.token.revoke': {
      const id = str(p.token);
      const t = id ? s.tokens.get(id) : undefined;
      if (id && t) s.tokens.set(id, { index, action, value: { ...t.value, revoked: true } });
      break;
    }
  }
}
