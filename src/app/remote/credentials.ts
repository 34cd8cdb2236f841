import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { processAlive } from '../../storage/locks/locks.js';

/** What the CLI remembers about a server it logged in to. */
export interface ServerSession {
  url: string;
  token: string;
  user: string;
  /** The server log's verifier key, pinned at login: every later checkpoint must be signed by it. */
  verifierKey: string;
  origin: string;
  /** The latest checkpoint this client verified; the server must keep extending it. */
  seen: { size: number; root: string; note: string } | null;
  /** A session signed in with OpenID Connect: `token` is the ID token, renewed with the refresh token. */
  oidc?: { issuer: string; clientId: string; tokenEndpoint: string; expiresAt: number; refreshToken?: string };
}

interface CredentialsFile {
  current: string | null;
  servers: Record<string, ServerSession>;
}

/** `$CAIRN_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cairn`, else `~/.config/cairn`. */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.CAIRN_CONFIG_DIR) return env.CAIRN_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'cairn');
}

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), 'credentials.json');
}

function load(env: NodeJS.ProcessEnv): CredentialsFile {
  const file = credentialsPath(env);
  if (!existsSync(file)) return { current: null, servers: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as CredentialsFile;
    if (!parsed || typeof parsed.servers !== 'object') throw new Error('no servers');
    return parsed;
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, {
      hint: 'run `cairn logout --all` and log in again',
    });
  }
}

/** Owner-only, written whole and renamed into place: a token never sits in a readable or half-written file. */
function save(env: NodeJS.ProcessEnv, c: CredentialsFile): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = credentialsPath(env);
  // A fresh, unguessable name opened exclusively: a link planted in a folder others could write
  // to (before it was made owner-only) is never followed.
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
}

export function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CairnError('USAGE', `not a server URL: ${JSON.stringify(url)}`, { hint: 'e.g. http://127.0.0.1:8080' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CairnError('USAGE', `a Cairn server URL is http:// or https://, not ${u.protocol}`);
  if (u.username || u.password) throw new CairnError('USAGE', 'put the token in --token, not in the URL');
  return u.origin + u.pathname.replace(/\/+$/, '');
}

/**
 * The session commands act on: `url`, else CAIRN_SERVER, else the server `cairn login` chose.
 * CAIRN_TOKEN and CAIRN_SERVER_KEY (the log's verifier key) let CI act without a login.
 */
export function currentSession(env: NodeJS.ProcessEnv, url?: string): ServerSession | null {
  const c = load(env);
  const want = url ? normalizeUrl(url) : env.CAIRN_SERVER ? normalizeUrl(env.CAIRN_SERVER) : c.current;
  if (!want) return null;
  const s = c.servers[want];
  const token = env.CAIRN_TOKEN || s?.token;
  const verifierKey = env.CAIRN_SERVER_KEY || s?.verifierKey;
  if (!token)
    throw new CairnError('UNAUTHENTICATED', `not logged in to ${want}`, { hint: `run \`cairn login ${want}\`` });
  if (!verifierKey)
    throw new CairnError('UNTRUSTED_KEY', `no pinned audit key for ${want}`, {
      hint: `run \`cairn login ${want}\` once on this machine, or give the key in CAIRN_SERVER_KEY`,
    });
  return {
    url: want,
    token,
    user: s?.user ?? '',
    verifierKey,
    origin: verifierKey.split('+')[0]!,
    seen: s && s.verifierKey === verifierKey ? s.seen : null,
    ...(s?.oidc && !env.CAIRN_TOKEN ? { oidc: s.oidc } : {}),
  };
}

/** Stores a renewed OpenID token of a server (the rest of its session unchanged). */
export function updateTokens(env: NodeJS.ProcessEnv, url: string, token: string, oidc: ServerSession['oidc']): void {
  const c = load(env);
  const s = c.servers[url];
  if (!s) return;
  s.token = token;
  if (oidc) s.oidc = oidc;
  save(env, c);
}

export function saveSession(env: NodeJS.ProcessEnv, s: ServerSession, makeCurrent: boolean): void {
  const c = load(env);
  c.servers[s.url] = s;
  if (makeCurrent) c.current = s.url;
  save(env, c);
}

/** Remembers a newer verified checkpoint, never an older one (parallel commands may finish out of order). */
export function rememberCheckpoint(env: NodeJS.ProcessEnv, url: string, seen: ServerSession['seen']): void {
  const c = load(env);
  const s = c.servers[url];
  // A CI session (CAIRN_TOKEN without a login) has nowhere to remember: each run checks from scratch.
  if (!s || !seen) return;
  if (s.seen && s.seen.size >= seen.size) return;
  s.seen = seen;
  save(env, c);
}

/** Pins `vkey` for the server at `url` after the client followed a signed key transition to it. */
export function rememberServerKey(env: NodeJS.ProcessEnv, url: string, vkey: string): void {
  const c = load(env);
  const s = c.servers[url];
  if (!s || s.verifierKey === vkey) return;
  s.verifierKey = vkey;
  save(env, c);
}

export function forget(env: NodeJS.ProcessEnv, url: string | null, all: boolean): string[] {
  const c = load(env);
  const gone = all ? Object.keys(c.servers) : url ? [normalizeUrl(url)] : c.current ? [c.current] : [];
  for (const u of gone) delete c.servers[u];
  if (c.current && gone.includes(c.current)) c.current = null;
  save(env, c);
  return gone;
}

/** A renewal lock older than this is a crashed command's (a renewal is one request to the provider). */
const RENEWAL_STALE_MS = 60_000;
const RENEWAL_WAIT_MS = 90_000;

/**
 * Runs `fn` while no other command on this machine renews the sign-in to `url`: providers that
 * rotate refresh tokens (oidc-provider, Keycloak) treat a second use of one as theft and revoke
 * the whole sign-in, so two commands starting at the same moment must not both spend it. The lock
 * is a file beside the credentials, created exclusively; one left by a dead process on this host,
 * or older than any renewal takes, is taken over.
 */
export async function withRenewalLock<T>(env: NodeJS.ProcessEnv, url: string, fn: () => Promise<T>): Promise<T> {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `renew-${createHash('sha256').update(url).digest('hex').slice(0, 16)}.lock`);
  const deadline = Date.now() + RENEWAL_WAIT_MS;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex') });
  for (;;) {
    try {
      writeFileSync(path, mine, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const stale = staleRenewalLock(path);
      if (stale !== null) {
        // Only the lock judged stale: another command may have taken it over meanwhile, and its
        // fresh lock must not be removed (both would then renew).
        if (stale !== '' && readOr(path, '') === stale) rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new CairnError('LOCKED', `another cairn command has been renewing the sign-in to ${url} too long`, {
          hint: `if no other cairn command runs, remove ${path}`,
        });
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  try {
    return await fn();
  } finally {
    // Only our own: a holder we declared stale may have been replaced by a third command.
    if (readOr(path, '') === mine) rmSync(path, { force: true });
  }
}

/** The content of a renewal lock that is stale (a dead holder's, or too old), '' if gone, else null. */
function staleRenewalLock(path: string): string | null {
  try {
    const st = statSync(path);
    const text = readFileSync(path, 'utf8');
    if (Date.now() - st.mtimeMs > RENEWAL_STALE_MS) return text;
    const holder = JSON.parse(text) as { pid: number; host: string };
    return holder.host === hostname() && !processAlive(holder.pid) ? text : null;
  } catch (err) {
    // Gone meanwhile (try again at once), or being written by its owner (held).
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? '' : null;
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
