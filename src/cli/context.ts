import { withServices as openServices, type Services } from '../app/services.js';
import { openWorkspace, type Workspace } from '../app/workspace.js';
import { createOutput, type Output } from './output.js';
import { createProgress, type Progress } from './progress.js';

export interface GlobalOptions {
  json?: boolean;
  workspace?: string;
}

export interface CommandContext {
  out: Output;
  progress(label: string, unit?: 'bytes' | 'items'): Progress;
  json: boolean;
}

export function commandContext(opts: GlobalOptions): CommandContext {
  const json = opts.json === true;
  return {
    out: createOutput(json),
    json,
    progress: (label, unit = 'bytes') => createProgress(label, { enabled: !json, unit }),
  };
}

/** The environment a command resolves its workspace from: `--workspace` wins over CAIRN_WORKSPACE. */
export function workspaceEnv(opts: GlobalOptions): NodeJS.ProcessEnv {
  return opts.workspace ? { ...process.env, CAIRN_WORKSPACE: opts.workspace } : process.env;
}

/** Opens the workspace for one command and always closes it (which signs a checkpoint). */
export async function withWorkspace<T>(
  opts: GlobalOptions,
  command: string,
  fn: (ws: Workspace) => Promise<T>,
): Promise<T> {
  const env = workspaceEnv(opts);
  const ws = await openWorkspace({ command, env });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

/** Runs one command against the services of the workspace (see app/services.ts). */
export function withServices<T>(opts: GlobalOptions, command: string, fn: (s: Services) => Promise<T>): Promise<T> {
  return openServices({ command, env: workspaceEnv(opts) }, fn);
}
