import { isoUtc } from '../../core/time.js';
import { redactUrl, type DeployConfig, type EnvConfig } from './config.js';
import { afterHook, finish } from './deploy.js';
import { attempt, backoffMs, claim, defaultRetry, schedule, type OutboxRow, type RetryPolicy } from './outbox.js';
import { readSecret, webhookResult } from './plan.js';
import type { Ctx, DeployDeps, DeployOptions, DeploymentRow, DeploymentStatus, HookResult } from './types.js';

export interface FlushItem {
  delivery: string;
  deployment: string;
  action: string;
  url: string;
  attempts: number;
  delivered: boolean;
  gaveUp: boolean;
  nextAttemptAt: string | null;
  error: string | null;
  /** The deployment's status after this flush (a pending one continues once its webhook is delivered). */
  deploymentStatus: DeploymentStatus;
}

/**
 * One attempt for every outbox delivery that is due: pending deliveries whose deployment
 * process died (a pending deployment continues, with its health check, once its webhook is
 * delivered) and rollback notices that could not be delivered at once. A delivery that fails
 * is scheduled again with backoff; after `giveUpAfter` attempts in all it is given up (and a
 * deployment still waiting on it fails). Receivers must be idempotent by deployment id: a
 * process that died after a delivery but before recording it leaves it to be sent again.
 */
export async function flushOutbox(
  deps: DeployDeps,
  opts: DeployOptions = {},
): Promise<{ flushed: FlushItem[]; waiting: Array<{ delivery: string; deployment: string; nextAttemptAt: string }> }> {
  const retry: RetryPolicy = { ...defaultRetry, ...opts.retry };
  const now = isoUtc(deps.clock.now());
  const due = await deps.meta.db
    .selectFrom('outbox')
    .selectAll()
    .where('delivered_at', 'is', null)
    .where('next_attempt_at', 'is not', null)
    .where('next_attempt_at', '<=', now)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const flushed: FlushItem[] = [];
  const cfgs = deps.deployConfig();
  for (const row of due) {
    const item = await flushOne(deps, opts, retry, cfgs, row);
    if (item) flushed.push(item);
  }
  const waiting = await deps.meta.db
    .selectFrom('outbox')
    .select(['id', 'deployment_id', 'next_attempt_at'])
    .where('delivered_at', 'is', null)
    .where('next_attempt_at', 'is not', null)
    .where('next_attempt_at', '>', now)
    .orderBy('next_attempt_at')
    .execute();
  return {
    flushed,
    waiting: waiting
      .filter((w) => !flushed.some((f) => f.delivery === w.id))
      .map((w) => ({ delivery: w.id, deployment: w.deployment_id, nextAttemptAt: w.next_attempt_at! })),
  };
}

/** One attempt at one due delivery; null when another process holds it. */
async function flushOne(
  deps: DeployDeps,
  opts: DeployOptions,
  retry: RetryPolicy,
  cfgs: DeployConfig | null,
  row: OutboxRow,
): Promise<FlushItem | null> {
  const d = await deps.meta.db
    .selectFrom('deployments')
    .selectAll()
    .where('id', '=', row.deployment_id)
    .executeTakeFirstOrThrow();
  const cfg = cfgs?.environments[d.env] ?? null;
  const timeoutS = cfg?.timeoutS ?? 60;
  const lease = isoUtc(new Date(Date.now() + (3 * timeoutS + 120) * 1000));
  if (!(await claim(deps, row, lease))) return null;
  row.next_attempt_at = lease;
  const action = (JSON.parse(row.body) as { action?: string }).action ?? 'deploy';
  const continues = d.status === 'pending' && action === 'deploy';
  const a = await attempt(deps, row, timeoutS * 1000, { markDelivered: !continues });
  let gaveUp = false;
  let status = d.status as DeploymentStatus;
  if (!a.ok) {
    gaveUp = a.attempts >= retry.giveUpAfter;
    await schedule(
      deps,
      row,
      gaveUp ? null : isoUtc(new Date(deps.clock.now().getTime() + backoffMs(a.attempts, retry))),
    );
  }
  if (continues && (a.ok || gaveUp)) {
    const hook = webhookResult(row, a.ok, a.attempts, a.status, a.error);
    status = await continueDeployment(deps, opts, retry, cfg, d, row, hook, timeoutS);
  }
  return {
    delivery: row.id,
    deployment: d.id,
    action,
    url: redactUrl(row.url),
    attempts: a.attempts,
    delivered: a.ok,
    gaveUp,
    nextAttemptAt: a.ok ? null : row.next_attempt_at,
    error: a.error,
    deploymentStatus: status,
  };
}

/** A pending deployment whose webhook was just delivered (or given up) goes on as `cairn deploy` would have. */
async function continueDeployment(
  deps: DeployDeps,
  opts: DeployOptions,
  retry: RetryPolicy,
  cfg: EnvConfig | null,
  d: DeploymentRow,
  row: OutboxRow,
  hook: HookResult,
  timeoutS: number,
): Promise<DeploymentStatus> {
  const model = await deps.meta.db
    .selectFrom('models')
    .selectAll()
    .where('id', '=', d.model_id)
    .executeTakeFirstOrThrow();
  const version = await deps.meta.db
    .selectFrom('model_versions')
    .selectAll()
    .where('id', '=', d.version_id)
    .executeTakeFirstOrThrow();
  if (!cfg) {
    const fallback: EnvConfig = {
      hook: { webhook: { url: row.url, secretEnv: 'CAIRN_DEPLOY_SECRET' } },
      health: null,
      timeoutS,
      alias: d.alias,
      onFailure: 'keep',
    };
    const ctx: Ctx = { deps, opts, retry, cfg: fallback, model, version, deployment: d, secret: null };
    const error = `environment ${d.env} is no longer in .cairn/deploy.json`;
    return (await finish(ctx, { status: 'failed', hook, health: null, error, rollback: null })).status;
  }
  let secret: string | null = null;
  try {
    secret = readSecret(cfg, opts.env ?? deps.env);
  } catch {
    // Only a rollback notice needs it; without it the deployment fails instead of rolling back.
  }
  const ctx: Ctx = { deps, opts, retry, cfg, model, version, deployment: d, secret };
  return (await afterHook(ctx, hook)).status;
}
