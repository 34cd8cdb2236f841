import { offlineAudit } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import { ApiClient } from './client.js';
import { currentSession, forget, normalizeUrl, saveSession, type ServerSession } from './credentials.js';
import { authConfig, deviceSignIn, freshSession, type DevicePrompt } from './oidc-login.js';
import { followLog } from './session.js';

export interface LoginResult {
  url: string;
  user: string;
  verifierKey: string;
  /** How the credential was proven: an API token, or OpenID Connect (device code). */
  via: 'token' | 'oidc';
  /** With OpenID: whether the provider gave a refresh token (the CLI renews the ID token by itself). */
  refreshable?: boolean;
  /** How the server's audit key came to be trusted: given with --key, kept from an earlier login, or first use. */
  pinned: 'given' | 'kept' | 'first-use';
  checkpoint: { size: number };
}

interface WhoAmI {
  user: string;
  origin: string;
  verifierKey: string;
}

/**
 * Checks the token against the server, pins the server's audit key (the one given with --key, or
 * the one seen at an earlier login: a changed key is refused), verifies the current checkpoint
 * and stores the session owner-only.
 */
export async function login(
  rawUrl: string,
  token: string | undefined,
  env: NodeJS.ProcessEnv,
  opts: { key?: string } = {},
): Promise<LoginResult> {
  const url = normalizeUrl(rawUrl);
  if (!token)
    throw new CairnError(
      'USAGE',
      'give a token: cairn login <url> --token <token> (or CAIRN_TOKEN), or sign in with --oidc',
      {
        hint: 'an admin issues one with `cairn server token create --user <you>`',
      },
    );
  return establish(url, token, env, opts);
}

/**
 * `cairn login <url> --oidc`: asks the server which OpenID provider it trusts (public
 * GET /api/v1/auth/config), runs the device authorization grant with it (`onPrompt` shows the
 * code and URL), then logs in with the ID token exactly as with an API token.
 */
export async function loginWithOidc(
  rawUrl: string,
  env: NodeJS.ProcessEnv,
  opts: { key?: string; onPrompt: (p: DevicePrompt) => void | Promise<void>; pollMs?: number },
): Promise<LoginResult> {
  const url = normalizeUrl(rawUrl);
  const cfg = await authConfig(url);
  const signed = await deviceSignIn(cfg, opts.onPrompt, opts.pollMs ? { pollMs: opts.pollMs } : {});
  return establish(url, signed.idToken, env, opts.key ? { key: opts.key } : {}, signed.state);
}

async function establish(
  url: string,
  token: string,
  env: NodeJS.ProcessEnv,
  opts: { key?: string },
  oidc?: ServerSession['oidc'],
): Promise<LoginResult> {
  const api = new ApiClient({ url, token });
  const me = await api.call<WhoAmI>('whoami');
  let previous: ServerSession | null = null;
  try {
    previous = currentSession({ ...env, CAIRN_SERVER: url, CAIRN_TOKEN: token, CAIRN_SERVER_KEY: '' });
  } catch {
    previous = null;
  }
  if (opts.key) {
    const given = offlineAudit.loadVerifierKey(opts.key);
    const theirs = offlineAudit.loadVerifierKey(me.verifierKey);
    if (given.name !== theirs.name || !given.keyId.equals(theirs.keyId) || !given.publicKey.equals(theirs.publicKey))
      throw new CairnError('UNTRUSTED_KEY', `the server at ${url} signs with a different key than the one given`, {
        data: { server: me.verifierKey },
      });
  } else if (previous && previous.verifierKey !== me.verifierKey) {
    // A rotation is followed from the pinned key through the transitions it signed
    // (docs/AUDIT.md §8); any other key change is refused.
    const probe: ServerSession = { ...previous, url, token };
    let followed = false;
    try {
      await followLog(api, probe, env);
      followed = probe.verifierKey === me.verifierKey;
    } catch {
      followed = false;
    }
    if (!followed)
      throw new CairnError('UNTRUSTED_KEY', `the server at ${url} now signs with a different audit key`, {
        hint: 'if an admin confirms the key changed, log in with --key <new verifier key>',
        data: { pinned: previous.verifierKey, server: me.verifierKey },
      });
    previous = probe;
  }
  const session: ServerSession = {
    url,
    token,
    user: me.user,
    verifierKey: me.verifierKey,
    origin: me.origin,
    seen: previous && previous.verifierKey === me.verifierKey ? previous.seen : null,
    ...(oidc ? { oidc } : {}),
  };
  await followLog(api, session, env);
  saveSession(env, session, true);
  return {
    url,
    user: me.user,
    verifierKey: me.verifierKey,
    via: oidc ? 'oidc' : 'token',
    ...(oidc ? { refreshable: oidc.refreshToken !== undefined } : {}),
    pinned: opts.key ? 'given' : previous ? 'kept' : 'first-use',
    checkpoint: { size: session.seen?.size ?? 0 },
  };
}

export function logout(env: NodeJS.ProcessEnv, url: string | undefined, all: boolean): { loggedOut: string[] } {
  return { loggedOut: forget(env, url ?? null, all) };
}

export async function whoami(env: NodeJS.ProcessEnv): Promise<(WhoAmI & { url: string }) | null> {
  const found = currentSession(env);
  if (!found) return null;
  const s = await freshSession(env, found);
  const me = await new ApiClient({ url: s.url, token: s.token }).call<WhoAmI>('whoami');
  return { ...me, url: s.url };
}
