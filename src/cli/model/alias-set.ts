import type { OptionsOf } from '../table/define.js';
import type { modelAliasSet } from './commands.js';
import { commandContext, withServices } from '../context.js';

/** Same checks as promote: an alias with a policy cannot be moved around it. */
export async function run(ref: string, alias: string, opts: OptionsOf<typeof modelAliasSet>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model alias set', (s) => s.models.promote(ref, alias, 'set'));
  ctx.out.result(r);
  ctx.out.say(`${r.alias} -> ${r.ref}${r.previous ? ` (was ${r.previous})` : ''}`);
}
