import { withServices as openServices, type Services } from '../app/services.js';
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

/** Runs one command against the services of the workspace (see app/services.ts). */
export function withServices<T>(opts: GlobalOptions, command: string, fn: (s: Services) => Promise<T>): Promise<T> {
  return openServices({ command, env: workspaceEnv(opts) }, fn);
}
