/* eslint-disable @typescript-eslint/no-explicit-any -- tests check service answers field by field */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withServices } from '../app/services.js';
import { newWorkspace } from './workspace.js';

/**
 * A fresh workspace acting as `actor`, not linked to any server, and a way to run the real
 * services in it (as the CLI does: config dir, actor and workspace from the environment).
 */
export async function servicesWorkspace(
  actor: string,
  prefix = 'cairn-ws',
): Promise<{ dir: string; run: <T>(fn: (s: any) => Promise<T>) => Promise<T> }> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-${actor.split('@')[0]}-`));
  const ws = await newWorkspace(dir, { actor });
  await ws.close();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(dir, '.config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_ACTOR: actor,
  };
  const run = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: dir, env }, fn);
  return { dir, run };
}
