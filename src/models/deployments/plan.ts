// The deploy planner: what a deployment does, decided from the request, the recorded state and
// the environment's policy, with no I/O (the shell in deploy.ts gathers the facts, runs hooks
// and health checks, and records what these functions decide).
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError, errorCatalogue } from '../../core/errors.js';
import { isoUtc } from '../../core/time.js';
import type { EventDraft } from '../../audit/event.js';
import type { ModelRow, ModelVersionRow } from '../registry.js';
import { redactUrl, type EnvConfig } from './config.js';
import { signBody, type OutboxRow } from './outbox.js';
import type { DeploymentRow, DeploymentStatus, HealthResult, HookResult, RollbackResult } from './types.js';

export const HOOK_KIND = (cfg: EnvConfig) => ('command' in cfg.hook ? 'command' : 'webhook');

export function target(model: ModelRow, v: ModelVersionRow) {
  return { type: 'model', name: model.name, version: v.number, digest: `sha256:${v.digest}` };
}

/** The webhook secret from `env` (null for a command hook); CONFIG_INVALID when it is not set. */
export function readSecret(cfg: EnvConfig, env: NodeJS.ProcessEnv): string | null {
  if (!('webhook' in cfg.hook)) return null;
  const name = cfg.hook.webhook.secretEnv;
  const s = env[name];
  if (!s)
    throw new CairnError('CONFIG_INVALID', `the webhook secret is not set: the environment variable ${name} is empty`, {
      hint: `export ${name}=<the secret your deploy endpoint verifies signatures with>`,
    });
  return s;
}

/** What the shell found out before deciding whether a deployment may start. */
export interface AdmissionFacts {
  ref: string;
  model: ModelRow;
  version: ModelVersionRow;
  env: string;
  cfg: EnvConfig;
  /** How the version's row differs from its logged `model.register` event. */
  stateProblems: string[];
  registeredAt: number | null;
  /** Unmet conditions of the policy of the alias the environment serves. */
  unmet: string[];
  /** The version the environment serves now. */
  previous: string | null;
  secret: string | null;
  actor: string;
  now: Date;
  ids: { deployment: string; delivery: string };
}

export type Admission =
  | { kind: 'refuse'; draft: EventDraft; outcome: 'failed' | 'denied'; reason: string; error: CairnError }
  | { kind: 'start'; row: DeploymentRow; outbox: OutboxRow | null; staleBefore: string; draft: EventDraft };

/**
 * Whether a deployment may start: a version that is not what the log registered, or that the
 * served alias's policy refuses, deploys nothing (the refusal is recorded); otherwise the
 * deployment row (pending), its webhook outbox row, and the event that records them.
 */
export function planAdmission(f: AdmissionFacts): Admission {
  const { cfg, env, version: v } = f;
  const tgt = target(f.model, v);
  const inputs = [`sha256:${v.digest}`];
  if (f.stateProblems.length)
    return {
      kind: 'refuse',
      draft: {
        action: 'model.deploy',
        target: tgt,
        inputs,
        params: { env, alias: cfg.alias, status: 'refused', stateProblems: f.stateProblems.length },
      },
      outcome: 'failed',
      reason: `STATE_MISMATCH: ${errorCatalogue.STATE_MISMATCH.summary}`,
      error: new CairnError(
        'STATE_MISMATCH',
        `${f.ref} is not what the audit log says was registered, so it cannot be deployed: ${f.stateProblems.join('; ')}`,
        {
          data: { env, stateProblems: f.stateProblems, registeredAt: f.registeredAt },
          hint: 'run `cairn audit verify` to see every row that differs from the log; nothing was deployed',
        },
      ),
    };
  if (cfg.alias && f.unmet.length)
    return {
      kind: 'refuse',
      draft: {
        action: 'model.deploy',
        target: tgt,
        inputs,
        params: { env, alias: cfg.alias, status: 'refused', unmet: f.unmet },
      },
      outcome: 'denied',
      reason: `POLICY_UNMET: ${f.unmet.join('; ')}`,
      error: new CairnError(
        'POLICY_UNMET',
        `${f.ref} cannot be deployed to ${env}, which serves ${cfg.alias}:\n  ${f.unmet.join('\n  ')}`,
        {
          data: { env, alias: cfg.alias, unmet: f.unmet },
          hint: 'evaluate it (cairn model evaluate) and get approvals (cairn model approve) first; nothing was deployed',
        },
      ),
    };
  const now = isoUtc(f.now);
  const row: DeploymentRow = {
    id: f.ids.deployment,
    model_id: f.model.id,
    version_id: v.id,
    env,
    alias: cfg.alias,
    status: 'pending',
    started_at: now,
    ended_at: null,
    by: f.actor,
    hook: null,
    health: null,
    error: null,
    previous_version_id: f.previous,
  };
  const outbox =
    f.secret !== null && 'webhook' in cfg.hook
      ? outboxRow(f.ids.delivery, row, cfg.hook.webhook.url, f.secret, 'deploy', f.model, v, now)
      : null;
  // Another deployment of this model to this env still running blocks this one; a pending one
  // older than anything a live process could still be doing is taken as abandoned.
  const staleBefore = isoUtc(new Date(f.now.getTime() - (4 * cfg.timeoutS + 300) * 1000));
  const draft: EventDraft = {
    action: 'model.deploy',
    target: tgt,
    inputs,
    params: { env, deployment: row.id, alias: cfg.alias, status: 'pending', hook: HOOK_KIND(cfg) },
  };
  return { kind: 'start', row, outbox, staleBefore, draft };
}

/** The signed webhook request for a deployment (or its rollback), as an outbox row due now. */
export function outboxRow(
  id: string,
  d: DeploymentRow,
  url: string,
  secret: string,
  action: 'deploy' | 'rollback',
  model: ModelRow,
  v: ModelVersionRow,
  now: string,
): OutboxRow {
  const body = canonicalJson({
    action,
    deployment: d.id,
    model: model.name,
    version: v.number,
    ref: `${model.name}@v${v.number}`,
    digest: `sha256:${v.digest}`,
    env: d.env,
  });
  return {
    id,
    deployment_id: d.id,
    url,
    body,
    signature: signBody(body, secret),
    attempts: 0,
    next_attempt_at: now,
    last_error: null,
    delivered_at: null,
    created_at: now,
  };
}

export function webhookResult(
  row: OutboxRow,
  ok: boolean,
  attempts: number,
  status: number | null,
  lastError: string | null,
): HookResult {
  return { kind: 'webhook', ok, url: redactUrl(row.url), delivery: row.id, attempts, status, lastError };
}

/** Why an attempt (hook, then health check) failed; null when both passed. */
export function attemptError(hook: HookResult, health: HealthResult, timeoutS: number): string | null {
  if (!hook.ok) return hookError(hook, timeoutS);
  return health.ok ? null : healthError(health, timeoutS);
}

/** After a failed attempt: keep what is there, roll back (by command or webhook), or say why it cannot. */
export type Recovery =
  { kind: 'keep' } | { kind: 'no-previous' } | { kind: 'command' } | { kind: 'webhook' } | { kind: 'no-secret' };

export function planRecovery(cfg: EnvConfig, previous: string | null, secret: string | null): Recovery {
  if (cfg.onFailure !== 'rollback') return { kind: 'keep' };
  if (!previous) return { kind: 'no-previous' };
  if ('command' in cfg.hook) return { kind: 'command' };
  return secret === null ? { kind: 'no-secret' } : { kind: 'webhook' };
}

/** The outcome of a command rollback to `to`, from what its hook and health check did. */
export function rollbackOutcome(
  error: string,
  to: string,
  rh: HookResult,
  rhealth: HealthResult | null,
  timeoutS: number,
): { status: 'rolled_back' | 'failed'; error: string; rollback: RollbackResult } {
  const rerr = !rh.ok ? hookError(rh, timeoutS) : rhealth && !rhealth.ok ? healthError(rhealth, timeoutS) : null;
  return {
    status: rerr === null ? 'rolled_back' : 'failed',
    error: rerr === null ? error : `${error}; the rollback to ${to} failed too: ${rerr}`,
    rollback: { to, ok: rerr === null, hook: rh, health: rhealth, error: rerr },
  };
}

export function hookError(h: HookResult, timeoutS: number): string {
  if (h.kind === 'command') {
    if (h.timedOut) return `the deploy hook timed out after ${timeoutS} s (its process group was killed)`;
    if (h.exitCode === null) return `the deploy hook was killed by ${h.signal ?? 'a signal'}`;
    return `the deploy hook exited with status ${h.exitCode}`;
  }
  return `the webhook was not delivered after ${h.attempts} attempt(s) (last: ${h.lastError ?? `HTTP ${h.status}`})`;
}

export function healthError(h: HealthResult, timeoutS: number): string {
  if (h.kind === 'command') {
    if (h.timedOut) return `the health check timed out after ${timeoutS} s (its process group was killed)`;
    return h.exitCode === null
      ? `the health check was killed by ${h.signal ?? 'a signal'}`
      : `the health check exited with status ${h.exitCode}`;
  }
  if (h.kind === 'url')
    return `the health check URL did not answer 2xx within ${timeoutS} s (${h.attempts} attempt(s), last: ${h.lastError ?? `HTTP ${h.status}`})`;
  return 'the health check did not pass';
}

/** What the audit event carries: outcomes, never output, paths or URLs' query strings. */
export function auditHook(h: HookResult | null): Record<string, unknown> | null {
  if (!h) return null;
  if (h.kind === 'command') return { kind: 'command', exitCode: h.exitCode, signal: h.signal, timedOut: h.timedOut };
  return { kind: 'webhook', url: h.url, attempts: h.attempts, status: h.status, delivered: h.ok };
}

export function auditHealth(h: HealthResult | null): Record<string, unknown> | null {
  if (!h) return null;
  if (h.kind === 'command') return { kind: 'command', ok: h.ok, exitCode: h.exitCode, timedOut: h.timedOut };
  if (h.kind === 'url') return { kind: 'url', ok: h.ok, url: h.url, attempts: h.attempts, status: h.status };
  return h.kind === 'none' ? { kind: 'none' } : { kind: 'skipped' };
}

export interface Outcome {
  status: Exclude<DeploymentStatus, 'pending'>;
  hook: HookResult | null;
  health: HealthResult | null;
  error: string | null;
  rollback: RollbackResult | null;
  rollbackVersion?: ModelVersionRow;
}

/** What recording an outcome writes: the event, the row's hook column, and a webhook rollback notice to queue. */
export function planFinish(
  c: { cfg: EnvConfig; model: ModelRow; version: ModelVersionRow; deployment: DeploymentRow; secret: string | null },
  o: Outcome,
  now: string,
  deliveryId: string,
): {
  draft: EventDraft;
  hookJson: Record<string, unknown> | null;
  webhookRollback: OutboxRow | null;
  rollbackTo: string | null;
} {
  const { deployment: d, cfg } = c;
  const webhookRollback =
    o.status === 'rolled_back' && o.rollbackVersion && 'webhook' in cfg.hook && c.secret !== null
      ? outboxRow(deliveryId, d, cfg.hook.webhook.url, c.secret, 'rollback', c.model, o.rollbackVersion, now)
      : null;
  const rollbackTo = o.rollbackVersion ? `${c.model.name}@v${o.rollbackVersion.number}` : null;
  const params: Record<string, unknown> = {
    env: d.env,
    deployment: d.id,
    alias: d.alias,
    status: o.status,
    hook: auditHook(o.hook),
    health: auditHealth(o.health),
    error: o.error,
    ...(rollbackTo ? { rollback: { to: rollbackTo, ok: o.status === 'rolled_back' } } : {}),
  };
  const draft: EventDraft = {
    action: 'model.deploy',
    target: target(c.model, c.version),
    inputs: [`sha256:${c.version.digest}`],
    params,
  };
  const hookJson = o.hook
    ? {
        ...o.hook,
        ...(o.rollback
          ? { rollback: o.rollback }
          : webhookRollback
            ? { rollback: { to: rollbackTo, kind: 'webhook', delivery: webhookRollback.id } }
            : {}),
      }
    : null;
  return { draft, hookJson, webhookRollback, rollbackTo };
}
