import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc } from '../../core/time.js';
import { addEdges } from '../../meta/repos/lineage.js';
import type { WriteTx } from '../../meta/write-tx.js';
import { moveAlias, unmetConditions } from '../aliases.js';
import { loggedModelVersion } from '../logged-version.js';
import { resolveModel } from '../registry.js';
import { checkEnvName, envConfig } from './config.js';
import { runHealth, runHook } from './hooks.js';
import { backoffMs, defaultRetry, deliverNow, schedule, type OutboxRow } from './outbox.js';
import {
  attemptError,
  planAdmission,
  planFinish,
  planRecovery,
  readSecret,
  rollbackOutcome,
  webhookResult,
  type Outcome,
} from './plan.js';
import type {
  Ctx,
  DeployDeps,
  DeployOptions,
  DeploymentRow,
  DeploymentView,
  HealthResult,
  HookResult,
} from './types.js';
import { viewById } from './views.js';

/**
 * Deploys a model version to an environment of `.cairn/deploy.json`: checks the policy of the
 * alias the environment serves first (a refusal deploys nothing), records the deployment
 * (and, for a webhook, its outbox row) in one audited transaction, runs the hook and the
 * health check, then records the outcome: on success the alias moves to the version; on
 * failure it stays (`keep`) or the previous version is deployed again (`rollback`).
 * Resolves with the deployment whatever its status; callers decide what a failure means.
 */
export async function deployModel(
  deps: DeployDeps,
  ref: string,
  env: string,
  opts: DeployOptions = {},
): Promise<DeploymentView> {
  checkEnvName(env);
  const cfg = envConfig(deps.deployConfig(), env);
  const r = await resolveModel(deps, ref);
  const secret = readSecret(cfg, opts.env ?? deps.env);
  // What is deployed must be what was registered: the row (and its files) must still match
  // the digest its model.register event logged (docs/AUDIT.md, "State bound to the log").
  const logged = await loggedModelVersion(deps, r.model, r.version);
  const unmet = !logged.problems.length && cfg.alias ? await unmetConditions(deps, r.model, r.version, cfg.alias) : [];
  const plan = planAdmission({
    ref: r.ref,
    model: r.model,
    version: r.version,
    env,
    cfg,
    stateProblems: logged.problems,
    registeredAt: logged.index,
    unmet,
    previous: logged.problems.length || unmet.length ? null : await servedVersion(deps, r.model.id, env, cfg.alias),
    secret,
    actor: deps.actor().id,
    now: deps.clock.now(),
    ids: { deployment: uuidv7(), delivery: uuidv7() },
  });
  if (plan.kind === 'refuse') {
    await deps.audit.record(plan.draft, plan.outcome, plan.reason);
    throw plan.error;
  }
  await recordStart(deps, r.model.name, plan.row, plan.outbox, plan.staleBefore, plan.draft);
  const ctx: Ctx = {
    deps,
    opts,
    retry: { ...defaultRetry, ...opts.retry },
    cfg,
    model: r.model,
    version: r.version,
    deployment: plan.row,
    secret,
  };
  const outbox = plan.outbox;
  return carryOut(ctx, async () => {
    if ('command' in cfg.hook) return runHook(ctx, cfg.hook.command, r.version, 'deploy', 'hook.log');
    const deadline = Date.now() + cfg.timeoutS * 1000;
    const d = await deliverNow(deps, outbox!, {
      deadline,
      leaseUntil: leaseUntil(ctx, deadline),
      retry: ctx.retry,
      markDelivered: false,
    });
    return webhookResult(
      outbox!,
      d.ok,
      d.attempts,
      d.status,
      d.error ?? (d.claimed ? null : 'another process took over the delivery'),
    );
  });
}

/** The version an environment serves now: its alias's, else that of its latest deployment that left it on a known version. */
async function servedVersion(
  deps: DeployDeps,
  modelId: string,
  env: string,
  alias: string | null,
): Promise<string | null> {
  if (alias) {
    const a = await deps.meta.db
      .selectFrom('model_aliases')
      .select('version_id')
      .where('model_id', '=', modelId)
      .where('alias', '=', alias)
      .executeTakeFirst();
    return a?.version_id ?? null;
  }
  const last = await deps.meta.db
    .selectFrom('deployments')
    .select(['status', 'version_id', 'previous_version_id'])
    .where('model_id', '=', modelId)
    .where('env', '=', env)
    .where('status', 'in', ['succeeded', 'rolled_back'])
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!last) return null;
  return last.status === 'succeeded' ? last.version_id : last.previous_version_id;
}

/** Records the pending deployment (and its webhook row) in one audited transaction, unless another is running. */
async function recordStart(
  deps: DeployDeps,
  modelName: string,
  row: DeploymentRow,
  outbox: OutboxRow | null,
  staleBefore: string,
  draft: Parameters<DeployDeps['audit']['audited']>[0],
): Promise<void> {
  await deps.audit.audited(draft, async (commit) => {
    await commit(async (tx) => {
      const busy = await tx.db
        .selectFrom('deployments')
        .select('id')
        .where('model_id', '=', row.model_id)
        .where('env', '=', row.env)
        .where('status', '=', 'pending')
        .where('started_at', '>', staleBefore)
        .executeTakeFirst();
      if (busy)
        throw new CairnError('LOCKED', `deployment ${busy.id} of ${modelName} to ${row.env} is still running`, {
          data: { deployment: busy.id },
          hint: 'wait for it to finish (cairn deploy ls), or for a webhook run cairn deploy outbox flush',
        });
      await tx.db.insertInto('deployments').values(row).execute();
      if (outbox) await tx.db.insertInto('outbox').values(outbox).execute();
      await addEdges(tx, [
        {
          id: uuidv7(),
          src_type: 'model_version',
          src_id: row.version_id,
          dst_type: 'deployment',
          dst_id: row.id,
          relation: 'deployed',
          via_type: null,
          via_id: null,
          created_at: row.started_at,
        },
      ]);
    });
  });
}

/** While a process works on a delivery, the row is leased to it until its work can no longer be going on. */
function leaseUntil(ctx: Ctx, deadline: number): string {
  return isoUtc(new Date(deadline + (2 * ctx.cfg.timeoutS + 120) * 1000));
}

/** Runs the hook (given), the health check and the rollback if one is due, then records the outcome. */
async function carryOut(ctx: Ctx, hookStep: () => Promise<HookResult>): Promise<DeploymentView> {
  let hook: HookResult | null = null;
  try {
    hook = await hookStep();
    return await afterHook(ctx, hook);
  } catch (err) {
    // An unexpected failure (a missing object, the database) still ends the deployment.
    // It is recorded as failed (without a rollback: what the hook did is unknown) and returned
    // as such; only when even that cannot be recorded does the error propagate.
    const msg = `deployment aborted: ${(err as Error).message}`;
    try {
      return await finish(ctx, { status: 'failed', hook, health: null, error: msg, rollback: null });
    } catch {
      throw err;
    }
  }
}

/** After the hook: the health check, then what `planRecovery` decides when either failed. */
export async function afterHook(ctx: Ctx, hook: HookResult): Promise<DeploymentView> {
  const { cfg } = ctx;
  const health: HealthResult = hook.ok
    ? await runHealth(ctx, ctx.version, 'deploy', 'health.log')
    : { kind: 'skipped', ok: false, why: 'the hook failed' };
  const error = attemptError(hook, health, cfg.timeoutS);
  if (!error) return finish(ctx, { status: 'succeeded', hook, health, error: null, rollback: null });
  const failed = { status: 'failed' as const, hook, health, rollback: null };
  const prevId = ctx.deployment.previous_version_id;
  const recovery = planRecovery(cfg, prevId, ctx.secret);
  if (recovery.kind === 'keep') return finish(ctx, { ...failed, error });
  if (recovery.kind === 'no-previous')
    return finish(ctx, { ...failed, error: `${error}; there is no previous version to roll back to` });
  const prev = await ctx.deps.meta.db
    .selectFrom('model_versions')
    .selectAll()
    .where('id', '=', prevId!)
    .executeTakeFirstOrThrow();
  const to = `${ctx.model.name}@v${prev.number}`;
  if (recovery.kind === 'command' && 'command' in cfg.hook) {
    const rh = await runHook(ctx, cfg.hook.command, prev, 'rollback', 'rollback.log');
    const rhealth = rh.ok ? await runHealth(ctx, prev, 'rollback', 'rollback-health.log') : null;
    const r = rollbackOutcome(error, to, rh, rhealth, cfg.timeoutS);
    return finish(ctx, { ...r, hook, health, rollbackVersion: prev });
  }
  if (recovery.kind === 'no-secret')
    return finish(ctx, { ...failed, error: `${error}; cannot roll back to ${to}: the webhook secret is not set` });
  // A webhook rollback is queued in the transaction that records it and delivered after.
  return finish(ctx, { status: 'rolled_back', hook, health, error, rollback: null, rollbackVersion: prev });
}

/** Records the outcome (once: a deployment that is no longer pending is left as it is). */
export async function finish(ctx: Ctx, o: Outcome): Promise<DeploymentView> {
  const { deps, deployment: d } = ctx;
  const now = isoUtc(deps.clock.now());
  const { draft, hookJson, webhookRollback, rollbackTo } = planFinish(ctx, o, now, uuidv7());
  const current = await deps.meta.db
    .selectFrom('deployments')
    .select('status')
    .where('id', '=', d.id)
    .executeTakeFirstOrThrow();
  if (current.status !== 'pending') return viewById(deps, d.id);
  await deps.audit.audited(draft, async (commit, dr) => {
    await commit(
      async (tx) => {
        const upd = await tx.db
          .updateTable('deployments')
          .set({
            status: o.status,
            ended_at: now,
            hook: hookJson ? canonicalJson(hookJson) : null,
            health: o.health ? canonicalJson(o.health) : null,
            error: o.error,
          })
          .where('id', '=', d.id)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (Number(upd.numUpdatedRows) !== 1)
          throw new CairnError('LOCKED', `deployment ${d.id} was finished by another process`);
        // The deployment's own webhook row: delivered, or given up with the deployment.
        await tx.db
          .updateTable('outbox')
          .set({ next_attempt_at: null, ...(o.hook?.kind === 'webhook' && o.hook.ok ? { delivered_at: now } : {}) })
          .where('deployment_id', '=', d.id)
          .where('delivered_at', 'is', null)
          .execute();
        const aliasMove = await moveServedAlias(tx, ctx, o, rollbackTo);
        if (aliasMove) dr.params = { ...dr.params, aliasMove };
        if (webhookRollback) await tx.db.insertInto('outbox').values(webhookRollback).execute();
      },
      o.status === 'succeeded'
        ? undefined
        : {
            outcome: 'failed',
            reason: o.status === 'rolled_back' ? 'the deployment failed and was rolled back' : 'the deployment failed',
          },
    );
  });
  if (webhookRollback) await deliverRollback(ctx, webhookRollback);
  return viewById(deps, d.id);
}

/** The alias the environment serves follows a success, and a rollback (unless it is already there). */
async function moveServedAlias(
  tx: WriteTx,
  ctx: Ctx,
  o: Outcome,
  rollbackTo: string | null,
): Promise<{ alias: string; from: string | null; to: string } | null> {
  const { deps, deployment: d } = ctx;
  if (d.alias && o.status === 'succeeded') {
    const from = await moveAlias(tx, deps, d.model_id, d.alias, d.version_id, 'deploy');
    return {
      alias: d.alias,
      from: from ? await versionRef(tx, from) : null,
      to: `${ctx.model.name}@v${ctx.version.number}`,
    };
  }
  if (d.alias && o.status === 'rolled_back' && o.rollbackVersion) {
    const cur = await tx.db
      .selectFrom('model_aliases')
      .select('version_id')
      .where('model_id', '=', d.model_id)
      .where('alias', '=', d.alias)
      .executeTakeFirst();
    if (cur?.version_id !== o.rollbackVersion.id) {
      const from = await moveAlias(tx, deps, d.model_id, d.alias, o.rollbackVersion.id, 'rollback');
      return { alias: d.alias, from: from ? await versionRef(tx, from) : null, to: rollbackTo! };
    }
  }
  return null;
}

/** Delivered now if possible; `cairn deploy outbox flush` retries it otherwise. */
async function deliverRollback(ctx: Ctx, row: OutboxRow): Promise<void> {
  const deadline = Date.now() + ctx.cfg.timeoutS * 1000;
  const r = await deliverNow(ctx.deps, row, {
    deadline,
    leaseUntil: isoUtc(new Date(deadline + 60_000)),
    retry: ctx.retry,
    markDelivered: true,
  });
  if (!r.ok && r.claimed)
    await schedule(
      ctx.deps,
      row,
      r.attempts >= ctx.retry.giveUpAfter ? null : isoUtc(new Date(Date.now() + backoffMs(r.attempts, ctx.retry))),
    );
}

async function versionRef(tx: WriteTx, versionId: string): Promise<string> {
  const v = await tx.db
    .selectFrom('model_versions as v')
    .innerJoin('models as m', 'm.id', 'v.model_id')
    .select(['m.name', 'v.number'])
    .where('v.id', '=', versionId)
    .executeTakeFirst();
  return v ? `${v.name}@v${v.number}` : versionId;
}
