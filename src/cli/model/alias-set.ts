import { promote } from '../../models/aliases.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

/** Same checks as promote: an alias with a policy cannot be moved around it. */
export async function run(ref: string, alias: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model alias set', (ws) => promote(ws, ref, alias, 'set'));
  ctx.out.result(r);
  ctx.out.say(`${r.alias} -> ${r.ref}${r.previous ? ` (was ${r.previous})` : ''}`);
}
