import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { createTransferService, parseRemoteKey, remoteConfigFrom, type CloneResult } from '../transfer/index.js';
import { transferDeps } from './transfer-config.js';
import { initWorkspace } from './workspace.js';

export interface CloneOptions {
  /** What to call the remote (it becomes the default). */
  name: string;
  endpoint?: string;
  region?: string;
  keyFile?: string;
  identityFile?: string;
  knownHosts?: string;
}

/**
 * `cairn clone`: a new workspace in `dir` (new or empty), filled from the remote at `url`. A
 * failed clone leaves nothing behind that looks like a workspace.
 */
export async function cloneWorkspace(
  url: string,
  dir: string,
  opts: CloneOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CloneResult & { dir: string }> {
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new CairnError('ALREADY_EXISTS', `${root} exists and is not empty`, {
      hint: 'clone into a new or empty directory',
    });
  const { config } = remoteConfigFrom(url, { ...opts, keyFile: undefined });
  const key = opts.keyFile ? parseRemoteKey(readFileSync(opts.keyFile, 'utf8')) : undefined;
  const createdRoot = !existsSync(root);
  const ws = await initWorkspace(root, { command: 'clone' });
  let ok = false;
  try {
    const service = createTransferService(transferDeps(ws, env));
    const r = await service.clone({ name: opts.name, config }, key ? { key } : {});
    ok = true;
    return { ...r, dir: root };
  } finally {
    await ws.close();
    if (!ok) rmSync(createdRoot ? root : resolve(root, '.cairn'), { recursive: true, force: true });
  }
}
