import { dirname, join } from 'node:path';
import type { Selectable } from 'kysely';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError, errorCatalogue } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc } from '../../core/time.js';
import type { DatasetDeps } from '../../datasets/index.js';
import type { EventDraft } from '../../audit/event.js';
import { addEdges } from '../../meta/repos/lineage.js';
import type { DeploymentsTable } from '../../meta/schema.js';
import type { WriteTx } from '../../meta/write-tx.js';
import { materializeShared } from '../../datasets/index.js';
import { moveAlias, unmetConditions } from '../aliases.js';
import { loggedModelVersion } from '../logged-version.js';
import { resolveModel, type ModelRow, type ModelVersionRow } from '../registry.js';
import { checkEnvName, envConfig, redactUrl, type DeployConfig, type EnvConfig } from './config.js';
import { httpRequest, is2xx, runCommand, sleep } from './exec.js';
import {
  attempt,
  backoffMs,
  claim,
  defaultRetry,
  deliverNow,
  schedule,
  signBody,
  type OutboxRow,
  type RetryPolicy,
} from './outbox.js';

export type DeploymentRow = Selectable<DeploymentsTable>;
export type DeploymentStatus = 'pending' | 'succeeded' | 'failed' | 'rolled_back';

/**
 * What deployments need beyond the dataset ports, given by app/: the workspace's .cairn folder
 * (hook logs; hooks run in the folder above it), its deploy.json (read on each call, so an edit
 * takes effect at once), the environment hooks run with and secrets are read from, and the
 * User-Agent webhooks are sent with.
 */
export type DeployDeps = DatasetDeps & {
  cairnDir: string;
  deployConfig(): DeployConfig | null;
  env: NodeJS.ProcessEnv;
  userAgent: string;
};

export interface DeployOptions {
  /** The environment hooks run with and the webhook secret is read from (default: the deps' env). */
  env?: NodeJS.ProcessEnv;
  retry?: Partial<RetryPolicy>;
  /** Between SIGTERM and SIGKILL of a timed-out hook's process group (default 2000). */
  killGraceMs?: number;
  /** Between health-check URL polls (default 1000). */
  healthPollMs?: number;
}

/** What the deploy hook did. `tail` (the end of its output) stays in the deployment row, out of the audit log. */
export type HookResult =
  | {
      kind: 'command';
      ok: boolean;
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      log: string;
      tail?: string;
    }
  | {
      kind: 'webhook';
      ok: boolean;
      url: string;
      delivery: string;
      attempts: number;
      status: number | null;
      lastError: string | null;
    };

export type HealthResult =
  | { kind: 'none'; ok: true }
  | { kind: 'skipped'; ok: false; why: string }
  | {
      kind: 'command';
      ok: boolean;
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      log: string;
      tail?: string;
    }
  | {
      kind: 'url';
      ok: boolean;
      url: string;
      attempts: number;
      status: number | null;
      lastError: string | null;
      timedOut: boolean;
    };

export interface RollbackResult {
  to: string;
  ok: boolean;
  hook:
    | HookResult
    | {
        kind: 'webhook';
        queued: true;
        delivery: string;
        delivered: boolean;
        attempts: number;
        lastError: string | null;
      };
  health: HealthResult | null;
  error: string | null;
}

export interface DeploymentView {
  id: string;
  model: string;
  version: string;
  digest: string;
  env: string;
  alias: string | null;
  status: DeploymentStatus;
  startedAt: string;
  endedAt: string | null;
  by: string;
  previous: string | null;
  hook: unknown;
  health: unknown;
  error: string | null;
}

interface Ctx {
  deps: DeployDeps;
  opts: DeployOptions;
  retry: RetryPolicy;
  cfg: EnvConfig;
  model: ModelRow;
  version: ModelVersionRow;
  deployment: DeploymentRow;
  secret: string | null;
}

const HOOK_KIND = (cfg: EnvConfig) => ('command' in cfg.hook ? 'command' : 'webhook');

function target(model: ModelRow, v: ModelVersionRow) {
  return { type: 'model', name: model.name, version: v.number, digest: `sha256:${v.digest}` };
}

function readSecret(cfg: EnvConfig, env: NodeJS.ProcessEnv): string | null {
  if (!('webhook' in cfg.hook)) return null;
  const name = cfg.hook.webhook.secretEnv;
  const s = env[name];
  if (!s)
    throw new CairnError('CONFIG_INVALID', `the webhook secret is not set: the environment variable ${name} is empty`, {
      hint: `export ${name}=<the secret your deploy endpoint verifies signatures with>`,
    });
  return s;
}

/** The version an environment serves now: its alias's, else that of its latest deployment that left it on a known version. */
async function servedVersion(
  deps: DeployDeps,
  model: ModelRow,
  env: string,
  alias: string | null,
): Promise<string | null> {
  if (alias) {
    const a = await deps.meta.db
      .selectFrom('model_aliases')
      .select('version_id')
      .where('model_id', '=', model.id)
      .where('alias', '=', alias)
      .executeTakeFirst();
    return a?.version_id ?? null;
  }
  const last = await deps.meta.db
    .selectFrom('deployments')
    .select(['status', 'version_id', 'previous_version_id'])
    .where('model_id', '=', model.id)
    .where('env', '=', env)
    .where('status', 'in', ['succeeded', 'rolled_back'])
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!last) return null;
  return last.status === 'succeeded' ? last.version_id : last.previous_version_id;
}

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
  const penv = opts.env ?? deps.env;
  const secret = readSecret(cfg, penv);
  const tgt = target(r.model, r.version);
  // What is deployed must be what was registered: the row (and its files) must still match
  // the digest its model.register event logged (docs/AUDIT.md, "State bound to the log").
  const logged = await loggedModelVersion(deps, r.model, r.version);
  if (logged.problems.length) {
    await deps.audit.record(
      {
        action: 'model.deploy',
        target: tgt,
        inputs: [`sha256:${r.version.digest}`],
        params: { env, alias: cfg.alias, status: 'refused', stateProblems: logged.problems.length },
      },
      'failed',
      `STATE_MISMATCH: ${errorCatalogue.STATE_MISMATCH.summary}`,
    );
    throw new CairnError(
      'STATE_MISMATCH',
      `${r.ref} is not what the audit log says was registered, so it cannot be deployed: ${logged.problems.join('; ')}`,
      {
        data: { env, stateProblems: logged.problems, registeredAt: logged.index },
        hint: 'run `cairn audit verify` to see every row that differs from the log; nothing was deployed',
      },
    );
  }
  if (cfg.alias) {
    const unmet = await unmetConditions(deps, r.model, r.version, cfg.alias);
    if (unmet.length) {
      await deps.audit.record(
        {
          action: 'model.deploy',
          target: tgt,
          inputs: [`sha256:${r.version.digest}`],
          params: { env, alias: cfg.alias, status: 'refused', unmet },
        },
        'denied',
        `POLICY_UNMET: ${unmet.join('; ')}`,
      );
      throw new CairnError(
        'POLICY_UNMET',
        `${r.ref} cannot be deployed to ${env}, which serves ${cfg.alias}:\n  ${unmet.join('\n  ')}`,
        {
          data: { env, alias: cfg.alias, unmet },
          hint: 'evaluate it (cairn model evaluate) and get approvals (cairn model approve) first; nothing was deployed',
        },
      );
    }
  }
  const previous = await servedVersion(deps, r.model, env, cfg.alias);
  const now = isoUtc(deps.clock.now());
  const row: DeploymentRow = {
    id: uuidv7(),
    model_id: r.model.id,
    version_id: r.version.id,
    env,
    alias: cfg.alias,
    status: 'pending',
    started_at: now,
    ended_at: null,
    by: deps.actor().id,
    hook: null,
    health: null,
    error: null,
    previous_version_id: previous,
  };
  const outbox =
    secret !== null && 'webhook' in cfg.hook
      ? outboxRow(row, cfg.hook.webhook.url, secret, 'deploy', r.model, r.version, now)
      : null;
  // Another deployment of this model to this env still running blocks this one; a pending one
  // older than anything a live process could still be doing is taken as abandoned.
  const staleBefore = isoUtc(new Date(deps.clock.now().getTime() - (4 * cfg.timeoutS + 300) * 1000));
  await deps.audit.audited(
    {
      action: 'model.deploy',
      target: tgt,
      inputs: [`sha256:${r.version.digest}`],
      params: { env, deployment: row.id, alias: cfg.alias, status: 'pending', hook: HOOK_KIND(cfg) },
    },
    async (commit) => {
      await commit(async (tx) => {
        const busy = await tx.db
          .selectFrom('deployments')
          .select('id')
          .where('model_id', '=', r.model.id)
          .where('env', '=', env)
          .where('status', '=', 'pending')
          .where('started_at', '>', staleBefore)
          .executeTakeFirst();
        if (busy)
          throw new CairnError('LOCKED', `deployment ${busy.id} of ${r.model.name} to ${env} is still running`, {
            data: { deployment: busy.id },
            hint: 'wait for it to finish (cairn deploy ls), or for a webhook run cairn deploy outbox flush',
          });
        await tx.db.insertInto('deployments').values(row).execute();
        if (outbox) await tx.db.insertInto('outbox').values(outbox).execute();
        await addEdges(tx, [
          {
            id: uuidv7(),
            src_type: 'model_version',
            src_id: r.version.id,
            dst_type: 'deployment',
            dst_id: row.id,
            relation: 'deployed',
            via_type: null,
            via_id: null,
            created_at: now,
          },
        ]);
      });
    },
  );
  const ctx: Ctx = {
    deps,
    opts,
    retry: { ...defaultRetry, ...opts.retry },
    cfg,
    model: r.model,
    version: r.version,
    deployment: row,
    secret,
  };
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

function outboxRow(
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
    id: uuidv7(),
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

/** While a process works on a delivery, the row is leased to it until its work can no longer be going on. */
function leaseUntil(ctx: Ctx, deadline: number): string {
  return isoUtc(new Date(deadline + (2 * ctx.cfg.timeoutS + 120) * 1000));
}

function webhookResult(
  row: OutboxRow,
  ok: boolean,
  attempts: number,
  status: number | null,
  lastError: string | null,
): HookResult {
  return { kind: 'webhook', ok, url: redactUrl(row.url), delivery: row.id, attempts, status, lastError };
}

function hookEnv(ctx: Ctx, v: ModelVersionRow, action: 'deploy' | 'rollback', dir: string): NodeJS.ProcessEnv {
  return {
    ...(ctx.opts.env ?? ctx.deps.env),
    CAIRN_MODEL: ctx.model.name,
    CAIRN_MODEL_VERSION: String(v.number),
    CAIRN_MODEL_REF: `${ctx.model.name}@v${v.number}`,
    CAIRN_MODEL_DIGEST: `sha256:${v.digest}`,
    CAIRN_MODEL_DIR: dir,
    CAIRN_ENV: ctx.deployment.env,
    CAIRN_DEPLOYMENT: ctx.deployment.id,
    CAIRN_DEPLOY_ACTION: action,
  };
}

function logPath(ctx: Ctx, name: string): string {
  return join(ctx.deps.cairnDir, 'deploy', ctx.deployment.id, name);
}

async function runHook(
  ctx: Ctx,
  command: string,
  v: ModelVersionRow,
  action: 'deploy' | 'rollback',
  log: string,
): Promise<HookResult> {
  // The files, read-only, in the workspace cache (shared with run inputs, keyed by their tree digest).
  const dir = await materializeShared(ctx.deps, v.digest, ctx.deps.cacheDir);
  const res = await runCommand(command, {
    env: hookEnv(ctx, v, action, dir),
    cwd: dirname(ctx.deps.cairnDir),
    log: logPath(ctx, log),
    timeoutMs: ctx.cfg.timeoutS * 1000,
    ...(ctx.opts.killGraceMs !== undefined ? { graceMs: ctx.opts.killGraceMs } : {}),
  });
  return {
    kind: 'command',
    ok: res.exitCode === 0 && !res.timedOut,
    exitCode: res.exitCode,
    signal: res.signal,
    timedOut: res.timedOut,
    log: res.log,
    tail: res.tail,
  };
}

async function runHealth(
  ctx: Ctx,
  v: ModelVersionRow,
  action: 'deploy' | 'rollback',
  log: string,
): Promise<HealthResult> {
  const h = ctx.cfg.health;
  if (!h) return { kind: 'none', ok: true };
  const timeoutMs = ctx.cfg.timeoutS * 1000;
  if ('command' in h) {
    const dir = await materializeShared(ctx.deps, v.digest, ctx.deps.cacheDir);
    const res = await runCommand(h.command, {
      env: hookEnv(ctx, v, action, dir),
      cwd: dirname(ctx.deps.cairnDir),
      log: logPath(ctx, log),
      timeoutMs,
      ...(ctx.opts.killGraceMs !== undefined ? { graceMs: ctx.opts.killGraceMs } : {}),
    });
    return {
      kind: 'command',
      ok: res.exitCode === 0 && !res.timedOut,
      exitCode: res.exitCode,
      signal: res.signal,
      timedOut: res.timedOut,
      log: res.log,
      tail: res.tail,
    };
  }
  // A service that was just deployed may need a moment: poll until 2xx or the time is up.
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let last: { status: number | null; error: string | null } = { status: null, error: null };
  for (;;) {
    attempts++;
    last = await httpRequest(h.url, { method: 'GET', timeoutMs: Math.max(1, Math.min(10_000, deadline - Date.now())) });
    if (is2xx(last.status))
      return {
        kind: 'url',
        ok: true,
        url: redactUrl(h.url),
        attempts,
        status: last.status,
        lastError: null,
        timedOut: false,
      };
    const wait = ctx.opts.healthPollMs ?? 1000;
    if (Date.now() + wait >= deadline) break;
    await sleep(wait);
  }
  return {
    kind: 'url',
    ok: false,
    url: redactUrl(h.url),
    attempts,
    status: last.status,
    lastError: last.error ?? `HTTP ${last.status}`,
    timedOut: true,
  };
}

function hookError(h: HookResult, timeoutS: number): string {
  if (h.kind === 'command') {
    if (h.timedOut) return `the deploy hook timed out after ${timeoutS} s (its process group was killed)`;
    if (h.exitCode === null) return `the deploy hook was killed by ${h.signal ?? 'a signal'}`;
    return `the deploy hook exited with status ${h.exitCode}`;
  }
  return `the webhook was not delivered after ${h.attempts} attempt(s) (last: ${h.lastError ?? `HTTP ${h.status}`})`;
}

function healthError(h: HealthResult, timeoutS: number): string {
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
function auditHook(h: HookResult | null): Record<string, unknown> | null {
  if (!h) return null;
  if (h.kind === 'command') return { kind: 'command', exitCode: h.exitCode, signal: h.signal, timedOut: h.timedOut };
  return { kind: 'webhook', url: h.url, attempts: h.attempts, status: h.status, delivered: h.ok };
}

function auditHealth(h: HealthResult | null): Record<string, unknown> | null {
  if (!h) return null;
  if (h.kind === 'command') return { kind: 'command', ok: h.ok, exitCode: h.exitCode, timedOut: h.timedOut };
  if (h.kind === 'url') return { kind: 'url', ok: h.ok, url: h.url, attempts: h.attempts, status: h.status };
  return h.kind === 'none' ? { kind: 'none' } : { kind: 'skipped' };
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

async function afterHook(ctx: Ctx, hook: HookResult): Promise<DeploymentView> {
  const { cfg } = ctx;
  let health: HealthResult;
  let error: string | null = null;
  if (!hook.ok) {
    health = { kind: 'skipped', ok: false, why: 'the hook failed' };
    error = hookError(hook, cfg.timeoutS);
  } else {
    health = await runHealth(ctx, ctx.version, 'deploy', 'health.log');
    if (!health.ok) error = healthError(health, cfg.timeoutS);
  }
  if (!error) return finish(ctx, { status: 'succeeded', hook, health, error: null, rollback: null });
  if (cfg.onFailure !== 'rollback') return finish(ctx, { status: 'failed', hook, health, error, rollback: null });
  const prevId = ctx.deployment.previous_version_id;
  if (!prevId)
    return finish(ctx, {
      status: 'failed',
      hook,
      health,
      error: `${error}; there is no previous version to roll back to`,
      rollback: null,
    });
  const prev = await ctx.deps.meta.db
    .selectFrom('model_versions')
    .selectAll()
    .where('id', '=', prevId)
    .executeTakeFirstOrThrow();
  const to = `${ctx.model.name}@v${prev.number}`;
  if ('command' in cfg.hook) {
    const rh = await runHook(ctx, cfg.hook.command, prev, 'rollback', 'rollback.log');
    const rhealth = rh.ok ? await runHealth(ctx, prev, 'rollback', 'rollback-health.log') : null;
    const rerr = !rh.ok
      ? hookError(rh, cfg.timeoutS)
      : rhealth && !rhealth.ok
        ? healthError(rhealth, cfg.timeoutS)
        : null;
    const rollback: RollbackResult = { to, ok: rerr === null, hook: rh, health: rhealth, error: rerr };
    return finish(ctx, {
      status: rerr === null ? 'rolled_back' : 'failed',
      hook,
      health,
      error: rerr === null ? error : `${error}; the rollback to ${to} failed too: ${rerr}`,
      rollback,
      rollbackVersion: prev,
    });
  }
  if (ctx.secret === null)
    return finish(ctx, {
      status: 'failed',
      hook,
      health,
      error: `${error}; cannot roll back to ${to}: the webhook secret is not set`,
      rollback: null,
    });
  // A webhook rollback is queued in the transaction that records it and delivered after.
  return finish(ctx, { status: 'rolled_back', hook, health, error, rollback: null, rollbackVersion: prev });
}

interface Outcome {
  status: Exclude<DeploymentStatus, 'pending'>;
  hook: HookResult | null;
  health: HealthResult | null;
  error: string | null;
  rollback: RollbackResult | null;
  rollbackVersion?: ModelVersionRow;
}

/** Records the outcome (once: a deployment that is no longer pending is left as it is). */
async function finish(ctx: Ctx, o: Outcome): Promise<DeploymentView> {
  const { deps, deployment: d, cfg } = ctx;
  const now = isoUtc(deps.clock.now());
  const webhookRollback =
    o.status === 'rolled_back' && o.rollbackVersion && 'webhook' in cfg.hook && ctx.secret !== null
      ? outboxRow(d, cfg.hook.webhook.url, ctx.secret, 'rollback', ctx.model, o.rollbackVersion, now)
      : null;
  const rollbackTo = o.rollbackVersion ? `${ctx.model.name}@v${o.rollbackVersion.number}` : null;
  let aliasMove: { alias: string; from: string | null; to: string } | null = null;
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
    target: target(ctx.model, ctx.version),
    inputs: [`sha256:${ctx.version.digest}`],
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
        if (d.alias && o.status === 'succeeded') {
          const from = await moveAlias(tx, deps, d.model_id, d.alias, d.version_id, 'deploy');
          aliasMove = {
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
            aliasMove = { alias: d.alias, from: from ? await versionRef(tx, from) : null, to: rollbackTo! };
          }
        }
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
  if (webhookRollback) {
    // Delivered now if possible; `cairn deploy outbox flush` retries it otherwise.
    const deadline = Date.now() + cfg.timeoutS * 1000;
    const r = await deliverNow(deps, webhookRollback, {
      deadline,
      leaseUntil: isoUtc(new Date(deadline + 60_000)),
      retry: ctx.retry,
      markDelivered: true,
    });
    if (!r.ok && r.claimed)
      await schedule(
        deps,
        webhookRollback,
        r.attempts >= ctx.retry.giveUpAfter ? null : isoUtc(new Date(Date.now() + backoffMs(r.attempts, ctx.retry))),
      );
  }
  return viewById(deps, d.id);
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

function deploymentsQuery(deps: Pick<DatasetDeps, 'meta'>) {
  return deps.meta.db
    .selectFrom('deployments as d')
    .innerJoin('models as m', 'm.id', 'd.model_id')
    .innerJoin('model_versions as v', 'v.id', 'd.version_id')
    .leftJoin('model_versions as p', 'p.id', 'd.previous_version_id')
    .selectAll('d')
    .select([
      'm.name as model_name',
      'v.number as version_number',
      'v.digest as version_digest',
      'p.number as previous_number',
    ]);
}

type JoinedRow = DeploymentRow & {
  model_name: string;
  version_number: number;
  version_digest: string;
  previous_number: number | null;
};

function view(r: JoinedRow): DeploymentView {
  return {
    id: r.id,
    model: r.model_name,
    version: `${r.model_name}@v${r.version_number}`,
    digest: `sha256:${r.version_digest}`,
    env: r.env,
    alias: r.alias,
    status: r.status as DeploymentStatus,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    by: r.by,
    previous: r.previous_number === null ? null : `${r.model_name}@v${r.previous_number}`,
    hook: r.hook ? JSON.parse(r.hook) : null,
    health: r.health ? JSON.parse(r.health) : null,
    error: r.error,
  };
}

async function viewById(deps: Pick<DatasetDeps, 'meta'>, id: string): Promise<DeploymentView> {
  return view((await deploymentsQuery(deps).where('d.id', '=', id).executeTakeFirstOrThrow()) as JoinedRow);
}

/** Deployments, newest first. */
export async function listDeployments(
  deps: Pick<DatasetDeps, 'meta'>,
  f: { env?: string; model?: string; limit?: number } = {},
): Promise<DeploymentView[]> {
  let q = deploymentsQuery(deps).orderBy('d.started_at', 'desc').orderBy('d.id', 'desc');
  if (f.env) q = q.where('d.env', '=', checkEnvName(f.env));
  if (f.model) q = q.where('m.name', '=', f.model);
  if (f.limit) q = q.limit(f.limit);
  return ((await q.execute()) as JoinedRow[]).map(view);
}

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
    const d = await deps.meta.db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', row.deployment_id)
      .executeTakeFirstOrThrow();
    const cfg = cfgs?.environments[d.env] ?? null;
    const timeoutS = cfg?.timeoutS ?? 60;
    const lease = isoUtc(new Date(Date.now() + (3 * timeoutS + 120) * 1000));
    if (!(await claim(deps, row, lease))) continue;
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
      const hook = webhookResult(row, a.ok, a.attempts, a.status, a.error);
      if (!cfg) {
        const fallback: EnvConfig = {
          hook: { webhook: { url: row.url, secretEnv: 'CAIRN_DEPLOY_SECRET' } },
          health: null,
          timeoutS,
          alias: d.alias,
          onFailure: 'keep',
        };
        const ctx: Ctx = { deps, opts, retry, cfg: fallback, model, version, deployment: d, secret: null };
        status = (
          await finish(ctx, {
            status: 'failed',
            hook,
            health: null,
            error: `environment ${d.env} is no longer in .cairn/deploy.json`,
            rollback: null,
          })
        ).status;
      } else {
        let secret: string | null = null;
        try {
          secret = readSecret(cfg, opts.env ?? deps.env);
        } catch {
          // Only a rollback notice needs it; without it the deployment fails instead of rolling back.
        }
        const ctx: Ctx = { deps, opts, retry, cfg, model, version, deployment: d, secret };
        status = (await afterHook(ctx, hook)).status;
      }
    }
    flushed.push({
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
    });
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
