import { offlineAudit } from '../../audit/index.js';
import type { Services } from '../services.js';
import { ApiClient, malformed } from './client.js';
import { rememberCheckpoint, rememberServerKey, type ServerSession } from './credentials.js';
import { freshSession } from './oidc-login.js';
import { createRemoteServices } from './services.js';

interface CheckpointAnswer {
  note: string;
  size: number;
  consistency: string[];
  keyTransitions?: Array<{ index: number; statement: string }>;
}

/**
 * Runs one command against a server. Before and after it, the server's latest checkpoint must be
 * signed by the key pinned at login and extend the last one this client verified: a server (or
 * anyone with its database) that rewrote history is caught by every client that saw the old one.
 */
export async function withRemoteServices<T>(
  session: ServerSession,
  env: NodeJS.ProcessEnv,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const s = { ...(await freshSession(env, session)) };
  const api = new ApiClient({ url: s.url, token: s.token });
  await followLog(api, s, env);
  const out = await fn(createRemoteServices(api, s));
  await followLog(api, s, env);
  return out;
}

export async function followLog(api: ApiClient, s: ServerSession, env: NodeJS.ProcessEnv): Promise<void> {
  const cp = await api.call<CheckpointAnswer>('audit.checkpoint', s.seen ? { query: { since: s.seen.size } } : {});
  const ok =
    cp !== null &&
    typeof cp === 'object' &&
    typeof cp.note === 'string' &&
    Array.isArray(cp.consistency) &&
    cp.consistency.every((h) => typeof h === 'string');
  if (!ok) throw malformed(api.url, 'checkpoint');
  const key = offlineAudit.loadVerifierKey(s.verifierKey);
  const transitions = Array.isArray(cp.keyTransitions) ? cp.keyTransitions : [];
  const { key: pinned, ...next } = offlineAudit.followCheckpoint(
    cp.note,
    key,
    s.origin,
    s.seen,
    cp.consistency,
    transitions,
  );
  s.seen = { ...next, note: cp.note };
  // The server's key was handed over through a transition the pinned key signed: pin the new one.
  if (pinned !== s.verifierKey) {
    s.verifierKey = pinned;
    rememberServerKey(env, s.url, pinned);
  }
  rememberCheckpoint(env, s.url, s.seen);
}
