import { offlineAudit } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import { ApiClient } from './client.js';
import { currentSession, forget, normalizeUrl, saveSession, type ServerSession } from './credentials.js';
import { followLog } from './session.js';

export interface LoginResult {
  url: string;
  user: string;
  verifierKey: string;
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
    throw new CairnError('USAGE', 'give a token: cairn login <url> --token <token> (or CAIRN_TOKEN)', {
      hint: 'an admin issues one with `cairn server token create --user <you>`',
    });
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
    throw new CairnError('UNTRUSTED_KEY', `the server at ${url} now signs with a different audit key`, {
      hint: 'if an admin confirms the key changed, log in with --key <new verifier key>',
      data: { pinned: previous.verifierKey, server: me.verifierKey },
    });
  }
  const session: ServerSession = {
    url,
    token,
    user: me.user,
    verifierKey: me.verifierKey,
    origin: me.origin,
    seen: previous && previous.verifierKey === me.verifierKey ? previous.seen : null,
  };
  await followLog(api, session, env);
  saveSession(env, session, true);
  return {
    url,
    user: me.user,
    verifierKey: me.verifierKey,
    pinned: opts.key ? 'given' : previous ? 'kept' : 'first-use',
    checkpoint: { size: session.seen?.size ?? 0 },
  };
}

export function logout(env: NodeJS.ProcessEnv, url: string | undefined, all: boolean): { loggedOut: string[] } {
  return { loggedOut: forget(env, url ?? null, all) };
}

export async function whoami(env: NodeJS.ProcessEnv): Promise<(WhoAmI & { url: string }) | null> {
  const s = currentSession(env);
  if (!s) return null;
  const me = await new ApiClient({ url: s.url, token: s.token }).call<WhoAmI>('whoami');
  return { ...me, url: s.url };
}
