import type { OptionsOf } from '../table/define.js';
import type { modelAliasSet } from './commands.js';
import { promote } from '../../models/aliases.js';
import { commandContext, withWorkspace } from '../context.js';

/** Same checks as promote: an alias with a policy cannot be moved around it. */
export async function run(ref: string, alias: string, opts: OptionsOf<typeof modelAliasSet>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model alias set', (ws) => promote(ws, ref, alias, 'set'));
  ctx.out.result(r);
  ctx.out.say(`${r.alias} -> ${r.ref}${r.previous ? ` (was ${r.previous})` : ''}`);
}
