import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import type { AuditActor } from '../audit/event.js';
import type { WorkspaceConfig } from './config.js';

/**
 * Who is acting, in order: CAIRN_ACTOR (automation, tests), the workspace config, git's
 * user.email (what the engineer already set up), else the OS account name.
 */
export function resolveActor(
  config: WorkspaceConfig,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): AuditActor {
  const fromEnv = env.CAIRN_ACTOR?.trim();
  if (fromEnv) return { id: fromEnv, auth: 'environment' };
  if (config.identity.id) return { id: config.identity.id, auth: 'config' };
  const git = gitEmail(cwd, env);
  if (git) return { id: git, auth: 'git-config' };
  return { id: osUser(), auth: 'os-user' };
}

function gitEmail(cwd: string, env: NodeJS.ProcessEnv): string | null {
  try {
    const out = execFileSync('git', ['config', '--get', 'user.email'], {
      cwd,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    const v = out.trim();
    return v.length > 0 ? v : null;
  } catch {
    return null;
  }
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
