import { join, resolve } from 'node:path';
import { CAIRN_DIR, findWorkspaceRoot } from '../../app/workspace.js';
import { CairnError } from '../../core/errors.js';
import type { GlobalOptions } from '../context.js';

/** Remote settings live in files: listing them needs no database. */
export function findCairnDir(opts: GlobalOptions): string {
  const root = opts.workspace ? resolve(opts.workspace) : process.env.CAIRN_WORKSPACE ? resolve(process.env.CAIRN_WORKSPACE) : findWorkspaceRoot(process.cwd());
  if (!root) throw new CairnError('WORKSPACE_NOT_FOUND', `no Cairn workspace in ${process.cwd()} or any parent directory`);
  return join(root, CAIRN_DIR);
}
