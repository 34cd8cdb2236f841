import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/package-root.js';

export const CLI = join(packageRoot(), 'bin', 'cairn.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when the command was run with --json. */
  json: unknown;
}

function ensureBuilt(): void {
  if (!existsSync(join(packageRoot(), 'dist', 'bundle', 'main.js'))) {
    throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
  }
}

const baseEnv = (env: NodeJS.ProcessEnv = {}) => ({
  ...process.env,
  CAIRN_NO_PROGRESS: '1',
  CAIRN_ACTOR: 'tester@example.com',
  ...env,
});

/** Runs the real CLI in a child process, as a user would. */
export function cli(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: string } = { cwd: process.cwd() },
): CliResult {
  ensureBuilt();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: baseEnv(opts.env),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    ...(opts.input ? { input: opts.input } : {}),
  });
  let json: unknown = undefined;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/** Starts the CLI without waiting (for kill and concurrency tests). */
export function cliSpawn(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
  ensureBuilt();
  return spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: baseEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
