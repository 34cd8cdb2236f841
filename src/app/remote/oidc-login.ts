import { decodeJwt } from 'jose';
import { CairnError, isCairnError } from '../../core/errors.js';
import type { AuthConfig } from '../oidc/index.js';
import { discover } from '../oidc/verifier.js';
import { readCapped } from './client.js';
import { API_PREFIX } from './contract.js';
import { currentSession, updateTokens, withRenewalLock, type ServerSession } from './credentials.js';

/** The most of a sign-in answer read (a config, a token): a server that streams more is cut off. */
const SMALL_ANSWER = 1024 * 1024;
/** How long one request to the provider may take. */
const PROVIDER_TIMEOUT_MS = 30_000;

/** What the person must do in a browser to let this CLI sign in (RFC 8628 §3.3). */
export interface DevicePrompt {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  expiresInS: number;
}

export type OidcSessionState = NonNullable<ServerSession['oidc']>;

/** The sign-in a server advertises at the public GET /api/v1/auth/config. */
export async function authConfig(url: string): Promise<NonNullable<AuthConfig['oidc']>> {
  let cfg: AuthConfig;
  try {
    const res = await fetch(`${url}${API_PREFIX}/auth/config`, { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`answered ${res.status}`);
    cfg = JSON.parse(await readCapped(res, url, SMALL_ANSWER)) as AuthConfig;
  } catch (err) {
    throw new CairnError('SERVER_UNAVAILABLE', `cannot ask ${url} how to sign in: ${(err as Error).message}`);
  }
  if (!cfg?.oidc)
    throw new CairnError('UNSUPPORTED', `the server at ${url} has no OpenID Connect sign-in`, {
      hint: 'log in with an API token (cairn login <url> --token …), or ask the admin to start it with --oidc-issuer',
    });
  return cfg.oidc;
}

/**
 * The device authorization grant (RFC 8628): asks the provider for a user code, lets `onPrompt`
 * show it, then polls the token endpoint at the provider's interval (slowing down when told)
 * until the person approved, refused, or the code expired.
 */
export async function deviceSignIn(
  cfg: NonNullable<AuthConfig['oidc']>,
  onPrompt: (p: DevicePrompt) => void | Promise<void>,
  opts: { pollMs?: number } = {},
): Promise<{ idToken: string; state: OidcSessionState }> {
  const d = await discover(cfg.issuer);
  if (!d.device_authorization_endpoint)
    throw new CairnError('UNSUPPORTED', `the OpenID provider ${cfg.issuer} offers no device authorization endpoint`, {
      hint: 'enable the device code grant for the client at the provider, or use an API token',
    });
  const start = await postForm(d.device_authorization_endpoint, { client_id: cfg.clientId, scope: cfg.scopes });
  if (!start.ok) throw providerError('the provider refused to start a device sign-in', start.body);
  const b = start.body as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete?: string;
    expires_in: number;
    interval?: number;
  };
  await onPrompt({
    verificationUri: b.verification_uri,
    ...(b.verification_uri_complete ? { verificationUriComplete: b.verification_uri_complete } : {}),
    userCode: b.user_code,
    expiresInS: b.expires_in,
  });
  let interval = opts.pollMs ?? (b.interval ?? 5) * 1000;
  const deadline = Date.now() + b.expires_in * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval));
    const t = await postForm(d.token_endpoint, {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: b.device_code,
      client_id: cfg.clientId,
    });
    if (t.ok) return tokensOf(t.body, d.token_endpoint, cfg, undefined);
    const err = (t.body as { error?: string }).error;
    if (err === 'authorization_pending') continue;
    if (err === 'slow_down') {
      interval += 5000;
      continue;
    }
    if (err === 'access_denied') throw new CairnError('UNAUTHENTICATED', 'the sign-in was refused in the browser');
    throw providerError('the device sign-in failed', t.body);
  }
  throw new CairnError('UNAUTHENTICATED', 'the user code expired before the sign-in was approved', {
    hint: 'run cairn login --oidc again',
  });
}

/**
 * A session signed in with OpenID whose ID token is about to expire gets a new one with its
 * refresh token (stored again, owner-only); without one the person must sign in again.
 */
export async function freshSession(env: NodeJS.ProcessEnv, s: ServerSession): Promise<ServerSession> {
  if (!s.oidc || s.oidc.expiresAt - 60_000 > Date.now()) return s;
  if (!s.oidc.refreshToken)
    throw new CairnError('UNAUTHENTICATED', `the OpenID sign-in to ${s.url} expired`, {
      hint: `run \`cairn login ${s.url} --oidc\``,
    });
  return withRenewalLock(env, s.url, async () => {
    // Another command may have renewed it while this one waited: its tokens are the live ones
    // (the refresh token this one read is spent).
    const now = currentSession(env, s.url)?.oidc ?? s.oidc!;
    if (now.expiresAt - 60_000 > Date.now()) return { ...s, token: currentSession(env, s.url)!.token, oidc: now };
    return renew(env, s, now);
  });
}

async function renew(env: NodeJS.ProcessEnv, s: ServerSession, o: OidcSessionState): Promise<ServerSession> {
  const t = await postForm(o.tokenEndpoint, {
    grant_type: 'refresh_token',
    refresh_token: o.refreshToken!,
    client_id: o.clientId,
  });
  if (!t.ok)
    throw new CairnError('UNAUTHENTICATED', `the OpenID sign-in to ${s.url} expired and could not be renewed`, {
      hint: `run \`cairn login ${s.url} --oidc\``,
      data: { provider: (t.body as { error?: string }).error ?? null },
    });
  const next = tokensOf(t.body, o.tokenEndpoint, o, o.refreshToken);
  updateTokens(env, s.url, next.idToken, next.state);
  return { ...s, token: next.idToken, oidc: next.state };
}

function tokensOf(
  body: unknown,
  tokenEndpoint: string,
  cfg: { issuer: string; clientId: string },
  previousRefresh: string | undefined,
): { idToken: string; state: OidcSessionState } {
  const b = body as { id_token?: string; refresh_token?: string };
  if (typeof b.id_token !== 'string')
    throw new CairnError('UNAUTHENTICATED', 'the provider answered without an ID token', {
      hint: 'is the openid scope allowed for this client?',
    });
  const exp = decodeJwt(b.id_token).exp ?? 0;
  const refreshToken = b.refresh_token ?? previousRefresh;
  return {
    idToken: b.id_token,
    state: {
      issuer: cfg.issuer,
      clientId: cfg.clientId,
      tokenEndpoint,
      expiresAt: exp * 1000,
      ...(refreshToken ? { refreshToken } : {}),
    },
  };
}

async function postForm(url: string, form: Record<string, string>): Promise<{ ok: boolean; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form),
      // Well inside the renewal lock's one minute (credentials.ts): a renewal taking longer would
      // see its lock taken over and the refresh token spent twice.
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CairnError('SERVER_UNAVAILABLE', `cannot reach the OpenID provider at ${url}: ${(err as Error).message}`);
  }
  // The provider is the one the server names: its answer is read within bounds too.
  const text = await readCapped(res, url, SMALL_ANSWER).catch((err: unknown) => {
    if (isCairnError(err)) throw err;
    return '';
  });
  let body: unknown = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: no token, no error named; the caller says so.
  }
  return { ok: res.ok, body };
}

function providerError(what: string, body: unknown): CairnError {
  const b = body as { error?: string; error_description?: string };
  return new CairnError('UNAUTHENTICATED', `${what}: ${b.error ?? 'no answer'} ${b.error_description ?? ''}`.trim());
}
