import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { CairnError } from '../../core/errors.js';
import type { Authenticated } from '../../identity/index.js';
import type { OidcVerifier } from './verifier.js';
import { fetchBounded, providerUnavailable } from './bounded-fetch.js';

interface Pending {
  state: string;
  verifier: string;
  nonce: string;
  redirectUri: string;
  returnTo: string;
  expires: number;
}

/** A browser session as kept: the provider's claims (mapped to the account on every request). */
export interface SessionRecord {
  /** The account name the claims mapped to at sign-in (for sweeping a disabled account's sessions). */
  principal: string;
  claims: JWTPayload;
  /** Milliseconds since the epoch. */
  expires: number;
  /** The provider's refresh token, when it gave one: the groups are asked for again with it. */
  refreshToken?: string;
  /** When the claims (groups) are to be asked for again, in milliseconds since the epoch; absent: never (older rows). */
  recheckAt?: number;
  /** Which write of the row this is (set by the store as it reads): what `replace` compares. */
  generation?: number;
}

/** How often a browser session's groups are asked for again at the provider, by default. */
export const DEFAULT_SESSION_RECHECK_MS = 15 * 60_000;

/**
 * Where sessions are kept, by the SHA-256 (hex) of the session id: the id itself lives only in
 * the browser's cookie. A team server keeps them in its metadata database.
 */
export interface SessionStore {
  put(idHash: string, s: SessionRecord): Promise<void>;
  get(idHash: string): Promise<SessionRecord | null>;
  /** True when there was such a session. */
  delete(idHash: string): Promise<boolean>;
  /**
   * Writes `next` over the session only if it is still the write `before` was read from (its
   * generation): false when another request, in this process or another, changed it meanwhile.
   */
  replace(idHash: string, before: SessionRecord, next: SessionRecord): Promise<boolean>;
  /**
   * Runs `fn` as the only holder of this session's renewal among every server process on the
   * store (the provider rotates refresh tokens: two processes spending one would end the session,
   * or the whole sign-in). Absent: one process is all there is.
   */
  exclusive?<T>(idHash: string, fn: () => Promise<T>): Promise<T>;
  /**
   * The key sign-ins in progress are sealed with, the same for every server process on the store
   * (one process seals at `/auth/login`, another may open at `/auth/callback`). Absent: a key of
   * this process.
   */
  sealKey?(): Promise<Buffer>;
}

export function memorySessions(): SessionStore {
  const m = new Map<string, SessionRecord>();
  return {
    put: async (h, s) => void m.set(h, { ...s, generation: 0 }),
    get: async (h) => m.get(h) ?? null,
    delete: async (h) => m.delete(h),
    async replace(h, before, next) {
      const cur = m.get(h);
      if (!cur || cur.generation !== before.generation) return false;
      m.set(h, { ...next, generation: (cur.generation ?? 0) + 1 });
      return true;
    },
  };
}

/** What a session id is kept as. */
export function sessionHash(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex');
}

const PENDING_TTL_MS = 10 * 60_000;
/** States of finished (or refused) callbacks remembered against replays; the oldest go first. */
const MAX_USED = 10_000;
/** Longest `return_to` carried through a sign-in (a cookie holds about 4 KiB). */
const MAX_RETURN = 1024;

/**
 * The browser's sign-in: authorization code with PKCE (S256), a `state` bound to the browser by a
 * cookie, a `nonce` bound to the ID token; then an opaque session id (32 random bytes) whose
 * claims stay on the server. Every request made with the session maps its claims to the account
 * again, so disabling the account or changing grants takes effect at once. Sessions are kept in
 * a SessionStore by the hash of their id (the server's database: a restart keeps them). A
 * sign-in in progress (10 minutes at most) travels in the browser's state cookie, sealed
 * (AES-256-GCM) with a key every server process on the database shares (SessionStore.sealKey;
 * behind a load balancer the callback may reach another process): the server keeps nothing per started sign-in, so
 * nobody can lock people out by starting sign-ins they never finish (it used to keep up to
 * 10,000 in memory and refuse the rest); a restart asks people mid-sign-in to start again.
 */
export class OidcBrowser {
  #sealKey: Promise<Buffer> | null = null;
  /** States already used at the callback (state → when it expires), so a callback is not replayed. */
  readonly #used = new Map<string, number>();
  /** Re-checks in flight by session hash: concurrent requests of one session spend its refresh token once. */
  readonly #rechecks = new Map<string, Promise<SessionRecord | null>>();

  constructor(
    private readonly verifier: OidcVerifier,
    readonly sessionTtlMs = 8 * 3_600_000,
    private readonly now: () => number = Date.now,
    private readonly sessions: SessionStore = memorySessions(),
    /** How long a session's groups are taken as the provider last gave them (`--oidc-session-recheck`). */
    readonly recheckMs = DEFAULT_SESSION_RECHECK_MS,
  ) {}

  /** Where to send the browser, and the sealed sign-in its state cookie must carry back. */
  async start(redirectUri: string, returnTo: string): Promise<{ location: string; state: string; cookie: string }> {
    const d = await this.verifier.discovery();
    const state = rand();
    const p: Pending = {
      state,
      verifier: rand(),
      nonce: rand(),
      redirectUri,
      returnTo: returnTo.length > MAX_RETURN ? '/' : returnTo,
      expires: this.now() + PENDING_TTL_MS,
    };
    const u = new URL(d.authorization_endpoint);
    const s = this.verifier.settings;
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: s.clientId,
      redirect_uri: redirectUri,
      scope: s.scopes,
      state,
      nonce: p.nonce,
      code_challenge: createHash('sha256').update(p.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }))
      u.searchParams.set(k, v);
    return { location: u.toString(), state, cookie: this.#seal(p, await this.#key()) };
  }

  /** Exchanges the code the provider sent back: the session id, who it is, and where the browser was going. */
  async finish(
    query: Record<string, string | undefined>,
    cookieState: string | undefined,
  ): Promise<{ sessionId: string; who: Authenticated; returnTo: string }> {
    const state = query.state ?? '';
    const p = cookieState ? this.#open(cookieState, await this.#key()) : null;
    const ok = p !== null && sameText(p.state, state) && p.expires >= this.now() && !this.#used.has(p.state);
    // One try per state: a forged or replayed callback spends it.
    if (p !== null) this.#spend(p);
    if (!ok)
      throw new CairnError('UNAUTHENTICATED', 'this sign-in was not started by this browser, or it is too old', {
        hint: 'start again at /auth/login',
      });
    if (query.error)
      throw new CairnError(
        'UNAUTHENTICATED',
        `the provider refused: ${query.error} ${query.error_description ?? ''}`.trim(),
      );
    if (!query.code) throw new CairnError('USAGE', 'the callback carries no code');
    const tokens = await this.#exchange(query.code, p);
    const claims = await this.verifier.verifyToken(tokens.id_token, p.nonce);
    const who = await this.verifier.identityOf(claims);
    const sessionId = rand();
    await this.sessions.put(sessionHash(sessionId), this.#record(who.principal.name, claims, tokens.refresh_token));
    return { sessionId, who, returnTo: p.returnTo };
  }

  /** The identity a session cookie stands for (checked again each time), or null when it is unknown or expired. */
  async fromSession(sessionId: string): Promise<Authenticated | null> {
    const h = sessionHash(sessionId);
    let s = await this.sessions.get(h);
    if (!s) return null;
    if (s.expires < this.now()) {
      await this.sessions.delete(h);
      return null;
    }
    if (s.recheckAt !== undefined && s.recheckAt <= this.now()) {
      const pending = this.#rechecks.get(h) ?? this.#renew(h, s).finally(() => this.#rechecks.delete(h));
      this.#rechecks.set(h, pending);
      s = await pending;
      if (!s) return null;
    }
    return this.verifier.identityOf(s.claims);
  }

  /**
   * A session's claims as kept: with a refresh token they are asked for again every `recheckMs`;
   * without one the session ends when the ID token does, and at the latest after `recheckMs`,
   * so a person the provider removed from a group keeps its role for at most that long.
   */
  #record(principal: string, claims: JWTPayload, refreshToken: string | undefined): SessionRecord {
    const now = this.now();
    const end = now + this.sessionTtlMs;
    if (refreshToken) return { principal, claims, expires: end, refreshToken, recheckAt: now + this.recheckMs };
    const idTokenEnd = typeof claims.exp === 'number' ? claims.exp * 1000 : end;
    return { principal, claims, expires: Math.min(end, idTokenEnd, now + this.recheckMs) };
  }

  /**
   * One renewal of the session across every server process: under the session's lock the row is
   * read again, and a row another process renewed since `seen` was read is taken as it stands
   * (its refresh token is the rotated one; spending `seen`'s again would be a reuse the provider
   * punishes by revoking the sign-in).
   */
  #renew(h: string, seen: SessionRecord): Promise<SessionRecord | null> {
    const once = async () => {
      const s = await this.sessions.get(h);
      if (!s) return null;
      if (s.generation !== seen.generation || s.recheckAt === undefined || s.recheckAt > this.now()) return s;
      return this.#recheck(h, s);
    };
    return this.sessions.exclusive ? this.sessions.exclusive(h, once) : once();
  }

  /** The session with fresh claims from the provider, or null (and gone) when the provider refuses to renew it. */
  async #recheck(h: string, s: SessionRecord): Promise<SessionRecord | null> {
    const ended = async () => {
      await this.sessions.delete(h);
      return null;
    };
    if (!s.refreshToken) return ended();
    let tokens: { id_token: string; refresh_token?: string };
    try {
      tokens = await this.#tokens({ grant_type: 'refresh_token', refresh_token: s.refreshToken });
    } catch (err) {
      // Refused (revoked, expired, the person gone): the session ends. The provider away: it stands, unchecked, and this request fails.
      if (err instanceof CairnError && err.code === 'UNAUTHENTICATED') return ended();
      throw err;
    }
    const claims = await this.verifier.verifyToken(tokens.id_token).catch(() => null);
    if (!claims || claims.sub !== s.claims.sub) return ended();
    const next = {
      ...this.#record(s.principal, claims, tokens.refresh_token ?? s.refreshToken),
      expires: s.expires,
    };
    // Another writer got in between (its lock ran out while this one stalled, or the session was
    // ended): what the row holds now stands, and this renewal's token is dropped.
    if (await this.sessions.replace(h, s, next)) return next;
    return this.sessions.get(h);
  }

  end(sessionId: string): Promise<boolean> {
    return this.sessions.delete(sessionHash(sessionId));
  }

  #exchange(code: string, p: Pending): Promise<{ id_token: string; refresh_token?: string }> {
    return this.#tokens({
      grant_type: 'authorization_code',
      code,
      redirect_uri: p.redirectUri,
      code_verifier: p.verifier,
    });
  }

  /** One request to the token endpoint (the client secret, when configured, as HTTP Basic). */
  async #tokens(params: Record<string, string>): Promise<{ id_token: string; refresh_token?: string }> {
    const d = await this.verifier.discovery();
    const s = this.verifier.settings;
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const form = new URLSearchParams(params);
    if (s.clientSecret)
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(s.clientId)}:${encodeURIComponent(s.clientSecret)}`).toString('base64')}`;
    else form.set('client_id', s.clientId);
    let res: Response;
    try {
      res = await fetchBounded(d.token_endpoint, { method: 'POST', headers, body: form }, this.verifier.bounds);
    } catch (err) {
      throw providerUnavailable('token endpoint', d.token_endpoint, err);
    }
    const body = (await res.json().catch(() => ({}))) as {
      id_token?: string;
      refresh_token?: string;
      error?: string;
      error_description?: string;
    };
    if (res.status >= 500)
      throw providerUnavailable('token endpoint', d.token_endpoint, new Error(`answered ${res.status}`));
    if (!res.ok || typeof body.id_token !== 'string')
      throw new CairnError(
        'UNAUTHENTICATED',
        `the provider did not issue tokens: ${body.error ?? res.status} ${body.error_description ?? ''}`.trim(),
      );
    return {
      id_token: body.id_token,
      ...(typeof body.refresh_token === 'string' ? { refresh_token: body.refresh_token } : {}),
    };
  }

  #spend(p: Pending): void {
    const now = this.now();
    for (const [k, expires] of this.#used) if (expires < now) this.#used.delete(k);
    // Past the bound the oldest are forgotten: replaying one still needs that browser's sealed
    // cookie and a code the provider has not redeemed yet (codes are single-use and PKCE-bound).
    while (this.#used.size >= MAX_USED) this.#used.delete(this.#used.keys().next().value!);
    this.#used.set(p.state, p.expires);
  }

  #key(): Promise<Buffer> {
    this.#sealKey ??= this.sessions.sealKey ? this.sessions.sealKey() : Promise.resolve(randomBytes(32));
    // A database that did not answer is asked again next time.
    this.#sealKey.catch(() => (this.#sealKey = null));
    return this.#sealKey;
  }

  #seal(p: Pending, key: Buffer): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(JSON.stringify(p), 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  /** The sign-in a state cookie carries, or null when it is not one this process sealed. */
  #open(cookie: string, key: Buffer): Pending | null {
    try {
      const raw = Buffer.from(cookie, 'base64url');
      if (raw.length < 29) return null;
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      const p = JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as Pending;
      return typeof p.state === 'string' && typeof p.verifier === 'string' ? p : null;
    } catch {
      return null;
    }
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function rand(): string {
  return randomBytes(32).toString('base64url');
}
