import { CairnError } from '../../core/errors.js';
import { checkAlias } from '../aliases.js';

export const DEPLOY_CONFIG = 'deploy.json';

export type DeployHook = { command: string } | { webhook: { url: string; secretEnv: string } };
export type HealthCheck = { command: string } | { url: string };

export interface EnvConfig {
  hook: DeployHook;
  health: HealthCheck | null;
  /** Limit for the hook and, separately, for the health check (seconds). */
  timeoutS: number;
  /** The alias this environment serves: it moves to a version once its deployment succeeds. */
  alias: string | null;
  onFailure: 'keep' | 'rollback';
}

export interface DeployConfig {
  environments: Record<string, EnvConfig>;
}

const ENV_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const DEFAULT_SECRET_ENV = 'CAIRN_DEPLOY_SECRET';
export const DEFAULT_TIMEOUT_S = 60;

export function checkEnvName(env: string): string {
  if (!ENV_NAME.test(env))
    throw new CairnError('INVALID_NAME', `${JSON.stringify(env)} is not a valid environment name`, {
      hint: 'lowercase letters, digits, - and _ (e.g. staging, production)',
    });
  return env;
}

/** The environment named `env` of the workspace's deploy.json (null: it has none); NOT_FOUND (listing the configured ones) otherwise. */
export function envConfig(cfg: DeployConfig | null, env: string): EnvConfig {
  checkEnvName(env);
  if (!cfg)
    throw new CairnError('NOT_FOUND', `no environments are configured (.cairn/${DEPLOY_CONFIG} does not exist)`, {
      hint: 'describe your environments in .cairn/deploy.json (see docs/DEPLOY.md)',
    });
  const e = cfg.environments[env];
  if (!e)
    throw new CairnError('NOT_FOUND', `no environment ${JSON.stringify(env)} in .cairn/${DEPLOY_CONFIG}`, {
      hint: `configured: ${Object.keys(cfg.environments).sort().join(', ') || '(none)'}`,
    });
  return e;
}

function fail(where: string, what: string): never {
  throw new CairnError('CONFIG_INVALID', `.cairn/${DEPLOY_CONFIG}: ${where}: ${what}`, {
    data: { key: where },
    hint: 'fix .cairn/deploy.json (see docs/DEPLOY.md)',
  });
}

function object(v: unknown, where: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      fail(`${where}.${k}`, `unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  return o;
}

function text(v: unknown, where: string): string {
  if (typeof v !== 'string' || !v.trim()) fail(where, 'must be a non-empty string');
  return v;
}

function httpUrl(v: unknown, where: string): string {
  const s = text(v, where);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    fail(where, `${JSON.stringify(s)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(where, 'must be an http:// or https:// URL');
  return s;
}

/** Validates a parsed deploy.json; every unknown key is an error that names it. */
export function parseDeployConfig(raw: unknown): DeployConfig {
  const top = object(raw, '(top level)', ['environments']);
  const envs = object(
    top.environments ?? {},
    'environments',
    Object.keys((top.environments as object | undefined) ?? {}),
  );
  const out: Record<string, EnvConfig> = {};
  for (const [name, v] of Object.entries(envs)) {
    const at = `environments.${name}`;
    if (!ENV_NAME.test(name)) fail(at, 'environment names are lowercase letters, digits, - and _');
    const e = object(v, at, ['hook', 'health', 'timeoutS', 'alias', 'onFailure']);
    if (e.hook === undefined)
      fail(`${at}.hook`, 'is required: {"command": "…"} or {"webhook": {"url": "…", "secretEnv": "…"}}');
    const h = object(e.hook, `${at}.hook`, ['command', 'webhook']);
    let hook: DeployHook;
    if ('command' in h === 'webhook' in h) fail(`${at}.hook`, 'give exactly one of "command" or "webhook"');
    if ('command' in h) hook = { command: text(h.command, `${at}.hook.command`) };
    else {
      const w = object(h.webhook, `${at}.hook.webhook`, ['url', 'secretEnv']);
      const secretEnv =
        w.secretEnv === undefined ? DEFAULT_SECRET_ENV : text(w.secretEnv, `${at}.hook.webhook.secretEnv`);
      if (!ENV_VAR.test(secretEnv)) fail(`${at}.hook.webhook.secretEnv`, 'must name an environment variable');
      hook = { webhook: { url: httpUrl(w.url, `${at}.hook.webhook.url`), secretEnv } };
    }
    let health: HealthCheck | null = null;
    if (e.health !== undefined) {
      const c = object(e.health, `${at}.health`, ['command', 'url']);
      if ('command' in c === 'url' in c) fail(`${at}.health`, 'give exactly one of "command" or "url"');
      health =
        'command' in c
          ? { command: text(c.command, `${at}.health.command`) }
          : { url: httpUrl(c.url, `${at}.health.url`) };
    }
    const timeoutS = e.timeoutS === undefined ? DEFAULT_TIMEOUT_S : e.timeoutS;
    if (typeof timeoutS !== 'number' || !Number.isFinite(timeoutS) || timeoutS <= 0)
      fail(`${at}.timeoutS`, 'must be a number of seconds > 0');
    let alias: string | null = null;
    if (e.alias !== undefined) {
      try {
        alias = checkAlias(text(e.alias, `${at}.alias`));
      } catch (err) {
        fail(`${at}.alias`, (err as Error).message);
      }
    }
    const onFailure = e.onFailure === undefined ? 'keep' : e.onFailure;
    if (onFailure !== 'keep' && onFailure !== 'rollback') fail(`${at}.onFailure`, 'must be "keep" or "rollback"');
    out[name] = { hook, health, timeoutS, alias, onFailure };
  }
  return { environments: out };
}

/** A URL without credentials or query string: what audit events and listings show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
