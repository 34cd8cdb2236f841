import { createHash } from 'node:crypto';
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
import {
  decide,
  readableProjects,
  type Decision,
  type Grant,
  type Principal,
  type Readable,
  type Role,
} from './roles.js';
import type { RowGuard } from './row-seal.js';

export type { AccountView, Authenticated, IdentityDeps, TokenView, Decision, Principal, Readable, Role };

/**
 * Tokens and grants as of one reading of the identity generation, taken after a request
 * arrived: everything the request checks (its credential, its role on each project it touches)
 * agrees with one state of the accounts, and a revocation or grant change committed before the
 * request arrived is always seen.
 */
export interface IdentityView {
  /** The identity generation this view's checks read tokens and grants at. */
  readonly generation: number;
  /**
   * Whether that generation was read after the request arrived (`view()`); false for a view of
   * the generation last seen (`view({ lastSeen: true })`), whose checks hold only if the
   * generation still stands when the request's event is appended (the append's guard) or
   * when it is read again before the answer leaves.
   */
  readonly fresh: boolean;
  authenticate(token: string): Promise<Authenticated>;
  authorize(principal: Principal, need: Role, project: string): Promise<Decision>;
  /** The projects `principal` may read, from the same reading of the grants. */
  readable(principal: Principal): Promise<Readable>;
  /**
   * The same checks answered at once from the grants this view's generation already read, or
   * null when they need a reading first (a served read would otherwise await a kept answer
   * several times, and every await costs a tracked promise).
   */
  known(): KnownGrants | null;
}

/** `IdentityView.known()`: role checks without a reading. */
export interface KnownGrants {
  authorize(principal: Principal, need: Role, project: string): Decision;
  readable(principal: Principal): Readable;
}
export { ROLES, decide, isRole, parseRole, readableProjects, roleOn } from './roles.js';
export { parseExpiry } from './tokens.js';
export { rowSeal, sealedFields, type RowGuard, type RowSeal, type SealedTable } from './row-seal.js';

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
  /**
   * A view for one request: one reading of the identity generation serves all its checks. With
   * `lastSeen`, no reading: the generation this process saw last (read first if none yet), for a
   * request whose event append is guarded by it (docs/SERVER.md "Throughput on PostgreSQL").
   */
  view(opts?: { lastSeen?: boolean }): Promise<IdentityView>;
}

/**
 * `rows`: the server's seal on account, token and grant rows (docs/SERVER.md "Back up, upgrade,
 * secure"); without it rows are neither sealed nor checked (a workspace's own identity service).
 */
export function createIdentityService(base: IdentityDeps, rows?: RowGuard): IdentityService {
  const deps: IdentityDeps = rows
    ? { meta: base.meta, audit: base.audit, clock: base.clock, actor: () => base.actor(), rows }
    : base;
  const cache = identityCache(deps);
  return {
    addAccount: (input) => addAccount(deps, input),
    accounts: () => listAccounts(deps),
    disable: (name) => disableAccount(deps, name),
    grant: (subject, project, role) => setGrant(deps, subject, project, role),
    createToken: (user, opts) => createToken(deps, user, opts),
    revokeToken: (id) => revokeToken(deps, id),
    tokens: (user) => listTokens(deps, user),
    authenticate: async (token) => (await cache.view()).authenticate(token),
    principalFor: (name, groups) => principalFor(deps, name, groups),
    authorize: async (principal, need, project) => (await cache.view()).authorize(principal, need, project),
    view: (opts) => cache.view(opts),
  };
}

/** A caller may change what it is given: every request gets its own copy of a kept identity. */
function copyOf(who: Authenticated): Authenticated {
  return { principal: { ...who.principal, groups: [...who.principal.groups] }, actor: { ...who.actor } };
}

function knownGrants(g: readonly Grant[]): KnownGrants {
  return {
    authorize: (principal, need, project) => decide(principal, g, need, project),
    readable: (principal) => readableProjects(principal, g),
  };
}

/**
 * Credentials already verified at one identity generation, by the whole token's digest: a request with
 * one skips hashing its secret and parsing its account's groups. Only what a successful check
 * returned is kept (a wrong secret is never a key); expiry is checked on every use (a kept one
 * past it goes back to authenticateToken, which refuses it), and any revocation, disabled
 * account or group change moves the generation, which starts a new, empty set.
 */
class VerifiedTokens {
  readonly #kept = new Map<string, { expires: number; who: Authenticated }>();

  /** `nowMs` against the stored expiry (isoUtc's text, whose order as a number is its order as text). */
  get(token: string, nowMs: number): Authenticated | null {
    const hit = this.#kept.get(keyOf(token));
    return hit && hit.expires > nowMs ? copyOf(hit.who) : null;
  }

  keep(token: string, expires: number, who: Authenticated): void {
    // Bounded: a flood of distinct (valid) tokens cannot grow it without limit.
    if (this.#kept.size >= 10_000) this.#kept.clear();
    this.#kept.set(keyOf(token), { expires, who: copyOf(who) });
  }
}

/** A kept credential's key: its digest, so the process's memory holds no bearer secret for long. */
function keyOf(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

/**
 * What a server read of tokens and grants, kept while the identity generation stands still
 * (every account, token or grant change increments it in its own transaction, in any process):
 * a request then reads one counter instead of a join and the whole grants table. Requests that
 * arrive in the same turn of the event loop share one reading of the counter, started after all
 * of them arrived, so none of them can miss a change committed before it arrived. Expiry is
 * still checked against the clock on every request; unknown token ids are never kept.
 */
function identityCache(deps: IdentityDeps) {
  let generation = -1;
  let tokens = new Map<string, TokenRow>();
  let grants: Grant[] | null = null;
  let reading: Promise<number> | null = null;
  const readGeneration = (): Promise<number> =>
    (reading ??= new Promise<void>((r) => setImmediate(r)).then(() => {
      // From here on a new arrival waits for the next reading: this one may have started too early for it.
      reading = null;
      return identityGeneration(deps.meta.db);
    }));
  // What a view reads is kept only if no newer generation was seen meanwhile (else an answer
  // read before a revocation could outlive it).
  const keepable = (n: number) => n >= 0 && n === generation;
  let verified = new VerifiedTokens();
  const authenticate = async (n: number, t: string): Promise<Authenticated> => {
    const hit = n === generation ? verified.get(t, deps.clock.now().getTime()) : null;
    if (hit) return hit;
    let expires = Infinity;
    const who = await authenticateToken(deps, t, async (id) => {
      const row = await token(n, id);
      expires = row?.expires_at ? Date.parse(row.expires_at) : Infinity;
      return row;
    });
    if (keepable(n)) verified.keep(t, expires, who);
    return who;
  };
  const token = async (n: number, id: string): Promise<TokenRow | undefined> => {
    if (n === generation) {
      const hit = tokens.get(id);
      if (hit) return hit;
    }
    const row = await lookupToken(deps.meta.db, id);
    // A bounded cache: a flood of distinct (valid) ids cannot grow it without limit.
    if (row && keepable(n)) {
      if (tokens.size >= 10_000) tokens.clear();
      tokens.set(id, row);
    }
    return row;
  };
  const grantsAt = async (n: number): Promise<Grant[]> => {
    if (n === generation && grants) return grants;
    const read = await readGrants(deps);
    if (keepable(n)) grants = read;
    return read;
  };
  return {
    async view(opts: { lastSeen?: boolean } = {}): Promise<IdentityView> {
      const fresh = !opts.lastSeen || generation < 0;
      const n = fresh ? await readGeneration() : generation;
      if (n !== generation) {
        generation = n;
        tokens = new Map();
        verified = new VerifiedTokens();
        grants = null;
      }
      return {
        generation: n,
        fresh,
        authenticate: (t) => authenticate(n, t),
        authorize: (principal, need, project) => authorize(deps, principal, need, project, () => grantsAt(n)),
        readable: async (principal) => readableProjects(principal, await grantsAt(n)),
        known: () => (n === generation && grants ? knownGrants(grants) : null),
      };
    },
  };
}
