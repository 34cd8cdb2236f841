import { canonicalJson } from '../core/canonical-json.js';
import { CairnError } from '../core/errors.js';
import { urlSecret } from '../core/url-secrets.js';
import { type AuditAction, type AuditOutcome, auditOutcomes, isAuditAction } from './actions.js';

export const AUDIT_SCHEMA = 'cairn.audit/v1';

/** How the actor proved who they are. Local workspaces trust the configured identity. */
export type AuthMethod = 'config' | 'git-config' | 'os-user' | 'environment' | 'token' | 'oidc' | 'none';

export interface AuditActor {
  /** An account id, never a display name: the only personal datum an event may carry. */
  id: string;
  auth: AuthMethod;
  /** How the identity was proven on a server: the API token's id or the OpenID subject (never a secret). */
  credential?: string;
}

export interface AuditTarget {
  type: string;
  name?: string;
  version?: number;
  digest?: string;
}

/** Who, where and with what the current command acts; fixed for one process. */
export interface AuditContext {
  actor: AuditActor;
  host: string;
  pid: number;
  command: string;
  client: string;
  workspace: string;
}

export interface EventDraft {
  action: AuditAction;
  target: AuditTarget;
  inputs?: string[];
  outputs?: string[];
  params?: Record<string, unknown>;
}

/** One log entry. Its canonical JSON (RFC 8785) is what the Merkle leaf commits to. */
export interface AuditEvent {
  schema: typeof AUDIT_SCHEMA;
  index: number;
  /** Leaf hash (hex) of the entry before this one; null for the first. Chains entries so a gap or reorder shows at the exact index. */
  prev: string | null;
  id: string;
  time: string;
  actor: AuditActor;
  host: string;
  process: { pid: number; command: string };
  client: string;
  workspace: string;
  action: AuditAction;
  target: AuditTarget;
  inputs: string[];
  outputs: string[];
  params: Record<string, unknown>;
  outcome: AuditOutcome;
  reason?: string;
}

export function buildEvent(
  ctx: AuditContext,
  draft: EventDraft,
  fields: { index: number; prev: string | null; id: string; time: string; outcome: AuditOutcome; reason?: string },
): AuditEvent {
  if (!isAuditAction(draft.action)) throw new CairnError('INTERNAL', `unknown audit action ${draft.action}`);
  refuseSecrets(draft, fields.reason);
  return {
    schema: AUDIT_SCHEMA,
    index: fields.index,
    prev: fields.prev,
    id: fields.id,
    time: fields.time,
    actor: ctx.actor,
    host: ctx.host,
    process: { pid: ctx.pid, command: ctx.command },
    client: ctx.client,
    workspace: ctx.workspace,
    action: draft.action,
    target: draft.target,
    inputs: draft.inputs ?? [],
    outputs: draft.outputs ?? [],
    params: draft.params ?? {},
    outcome: fields.outcome,
    ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
  };
}

/**
 * The log is signed, kept forever and pushed to every remote: a credential written into it
 * can never be taken back. Whatever builds an event, no string in it may hold a URL with a
 * password or a secret query parameter (a presigned signature, a token); the operation is
 * refused instead, before anything is written. Values are never echoed, only their place.
 */
function refuseSecrets(draft: EventDraft, reason: string | undefined): void {
  // Every served read builds an event: the places (paths) are only worth building for a refusal.
  if (
    !holdsSecret(draft.target) &&
    !holdsSecret(draft.inputs) &&
    !holdsSecret(draft.outputs) &&
    !holdsSecret(draft.params) &&
    (reason === undefined || urlSecret(reason) === null)
  )
    return;
  const found = findSecret(
    {
      target: draft.target,
      inputs: draft.inputs ?? [],
      outputs: draft.outputs ?? [],
      params: draft.params ?? {},
      reason: reason ?? '',
    },
    '',
  );
  if (found) {
    throw new CairnError(
      'INVALID_INPUT',
      `refusing to write a credential into the audit log: ${found.path}: ${found.why}`,
      {
        data: { field: found.path, action: draft.action },
        hint: 'give credentials through the environment or an owner-only key file, never inside a URL or a parameter; nothing was written',
      },
    );
  }
}

/** Whether findSecret would find something, without naming where. */
function holdsSecret(v: unknown): boolean {
  if (typeof v === 'string') return urlSecret(v) !== null;
  if (Array.isArray(v)) {
    for (const x of v) if (holdsSecret(x)) return true;
    return false;
  }
  if (v && typeof v === 'object')
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      if (urlSecret(k) !== null || holdsSecret((v as Record<string, unknown>)[k])) return true;
    }
  return false;
}

function findSecret(v: unknown, path: string): { path: string; why: string } | null {
  if (typeof v === 'string') {
    const why = urlSecret(v);
    return why ? { path, why } : null;
  }
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const f = findSecret(x, `${path}[${i}]`);
      if (f) return f;
    }
    return null;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const f = findSecret(k, path ? `${path}.${k}` : k) ?? findSecret(x, path ? `${path}.${k}` : k);
      if (f) return f;
    }
  }
  return null;
}

export function encodeEvent(e: AuditEvent): string {
  return canonicalJson(e);
}

/** Parses an entry and checks the shape verification relies on; returns a reason on failure. */
export function parseEvent(entry: string): { event: AuditEvent } | { problem: string } {
  let e: AuditEvent;
  try {
    e = JSON.parse(entry) as AuditEvent;
  } catch {
    return { problem: 'entry is not JSON' };
  }
  if (!e || typeof e !== 'object') return { problem: 'entry is not an object' };
  if (e.schema !== AUDIT_SCHEMA) return { problem: `unknown schema ${JSON.stringify(e.schema)}` };
  if (!Number.isSafeInteger(e.index)) return { problem: 'index missing' };
  if (e.prev !== null && !(typeof e.prev === 'string' && /^[0-9a-f]{64}$/.test(e.prev)))
    return { problem: 'prev is malformed' };
  if (typeof e.action !== 'string' || !isAuditAction(e.action))
    return { problem: `action ${JSON.stringify(e.action)} is not in the closed list` };
  if (!auditOutcomes.includes(e.outcome)) return { problem: `outcome ${JSON.stringify(e.outcome)} is invalid` };
  if (!e.actor || typeof e.actor.id !== 'string') return { problem: 'actor missing' };
  try {
    if (canonicalJson(e) !== entry) return { problem: 'entry is not in canonical form' };
  } catch {
    return { problem: 'entry cannot be canonicalized' };
  }
  return { event: e };
}
