import {
  addAccount,
  authenticateToken,
  authorize,
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
import type { Decision, Principal, Role } from './roles.js';

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
  return {
    addAccount: (input) => addAccount(deps, input),
    accounts: () => listAccounts(deps),
    disable: (name) => disableAccount(deps, name),
    grant: (subject, project, role) => setGrant(deps, subject, project, role),
    createToken: (user, opts) => createToken(deps, user, opts),
    revokeToken: (id) => revokeToken(deps, id),
    tokens: (user) => listTokens(deps, user),
    authenticate: (token) => authenticateToken(deps, token),
    principalFor: (name, groups) => principalFor(deps, name, groups),
    authorize: (principal, need, project) => authorize(deps, principal, need, project),
  };
}
