import {
  addAccount,
  authenticateToken,
  authorize,
  identityGeneration,
  lookupToken,
  readGrants,
  type TokenRow,
  createToken,
  disableAccount,
  listAccounts,
  listTokens,
  principalFor,
  revokeToken,
  setGrant,
  type AccountView,
  type Authenticated,
  type IdentityDeps,
  type TokenView,
} from './accounts.js';
import type { Decision, Grant, Principal, Role } from './roles.js';

export type { AccountView, Authenticated, IdentityDeps, TokenView, Decision, Principal, Role };
export { ROLES, decide, isRole, parseRole, roleOn } from './roles.js';
export { parseExpiry } from './tokens.js';

/** People, service accounts, API tokens and role grants of a team server (docs/SERVER.md). */
export interface IdentityService {
  addAccount(input: {
    name: string;
    kind?: 'user' | 'service';
    email?: string;
    groups?: string[];
    role?: Role;
    project?: string;
  }): Promise<AccountView>;
  accounts(): Promise<AccountView[]>;
  disable(name: string): Promise<void>;
  grant(subject: string, project: string, role: Role | null): Promise<void>;
  createToken(
    user: string,
    opts?: { expiresInMs?: number | null; label?: string },
  ): Promise<TokenView & { token: string }>;
  revokeToken(id: string): Promise<void>;
  tokens(user?: string): Promise<TokenView[]>;
  /** The identity a bearer token proves (UNAUTHENTICATED otherwise). */
  authenticate(token: string): Promise<Authenticated>;
  /** The principal for a name an OpenID provider vouched for, with its groups; null for a disabled account. */
  principalFor(name: string, groups: readonly string[]): Promise<Principal | null>;
  authorize(principal: Principal, need: Role, project: string): Promise<Decision>;
}

export function createIdentityService(deps: IdentityDeps): IdentityService {
  const cache = identityCache(deps);
  return {
    addAccount: (input) => addAccount(deps, input),
    accounts: () => listAccounts(deps),
    disable: (name) => disableAccount(deps, name),
    grant: (subject, project, role) => setGrant(deps, subject, project, role),
    createToken: (user, opts) => createToken(deps, user, opts),
    revokeToken: (id) => revokeToken(deps, id),
    tokens: (user) => listTokens(deps, user),
    authenticate: (token) => authenticateToken(deps, token, cache.token),
    principalFor: (name, groups) => principalFor(deps, name, groups),
    authorize: (principal, need, project) => authorize(deps, principal, need, project, cache.grants),
  };
}

/**
 * What a server read of tokens and grants, kept while the identity generation stands still
 * (every account, token or grant change increments it in its own transaction, in any process):
 * each request then reads one counter instead of a join and the whole grants table. Expiry is
 * still checked against the clock on every request; unknown token ids are never kept.
 */
function identityCache(deps: IdentityDeps) {
  let generation = -1;
  let tokens = new Map<string, TokenRow>();
  let grants: Grant[] | null = null;
  // The generation this request read: what it reads next is kept only if no other request saw a
  // newer generation meanwhile (else an answer read before a revocation could outlive it).
  const fresh = async (): Promise<number> => {
    const n = await identityGeneration(deps.meta.db);
    if (n !== generation) {
      generation = n;
      tokens = new Map();
      grants = null;
    }
    return n;
  };
  const keepable = (n: number) => n >= 0 && n === generation;
  return {
    token: async (id: string): Promise<TokenRow | undefined> => {
      const n = await fresh();
      const hit = tokens.get(id);
      if (hit) return hit;
      const row = await lookupToken(deps.meta.db, id);
      // A bounded cache: a flood of distinct (valid) ids cannot grow it without limit.
      if (row && keepable(n)) {
        if (tokens.size >= 10_000) tokens.clear();
        tokens.set(id, row);
      }
      return row;
    },
    grants: async (): Promise<Grant[]> => {
      const n = await fresh();
      if (grants) return grants;
      const read = await readGrants(deps.meta.db);
      if (keepable(n)) grants = read;
      return read;
    },
  };
}
