// The deploy shell's side effects on the outside world: running hook and health-check commands
// (with the model's files materialized read-only) and polling health URLs.
import { dirname, join } from 'node:path';
import { materializeShared } from '../../datasets/index.js';
import type { ModelVersionRow } from '../registry.js';
import { redactUrl } from './config.js';
import { httpRequest, is2xx, runCommand, sleep } from './exec.js';
import type { Ctx, HealthResult, HookResult } from './types.js';

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

export async function runHook(
  ctx: Ctx,
  command: string,
  v: ModelVersionRow,
  action: 'deploy' | 'rollback',
  log: string,
): Promise<HookResult> {
  return runWithVersion(ctx, command, v, action, log);
}

export async function runHealth(
  ctx: Ctx,
  v: ModelVersionRow,
  action: 'deploy' | 'rollback',
  log: string,
): Promise<HealthResult> {
  const h = ctx.cfg.health;
  if (!h) return { kind: 'none', ok: true };
  const timeoutMs = ctx.cfg.timeoutS * 1000;
  if ('command' in h) {
    return runWithVersion(ctx, h.command, v, action, log);
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

/** Runs a hook or health command with the version's files (read-only, in the workspace cache, shared with run inputs). */
async function runWithVersion(
  ctx: Ctx,
  command: string,
  v: ModelVersionRow,
  action: 'deploy' | 'rollback',
  log: string,
): Promise<HookResult & HealthResult> {
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
