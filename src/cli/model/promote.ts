import type { OptionsOf } from '../table/define.js';
import type { modelPromote } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelPromote>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model promote', (s) => s.models.promote(ref, opts.to));
  ctx.out.result(r);
  ctx.out.say(`${r.alias} -> ${r.ref}${r.previous ? ` (was ${r.previous})` : ''}`);
}
