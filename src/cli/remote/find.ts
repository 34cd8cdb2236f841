import { join } from 'node:path';
import { CAIRN_DIR, locateWorkspace } from '../../app/workspace.js';
import { workspaceEnv, type GlobalOptions } from '../context.js';

/** Remote settings live in files: listing them needs no database. */
export function findCairnDir(opts: GlobalOptions): string {
  return join(locateWorkspace({ env: workspaceEnv(opts) }), CAIRN_DIR);
}
