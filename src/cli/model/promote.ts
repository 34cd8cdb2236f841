import type { OptionsOf } from '../table/define.js';
import type { modelPromote } from './commands.js';
import { promote } from '../../models/aliases.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelPromote>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model promote', (ws) => promote(ws, ref, opts.to));
  ctx.out.result(r);
  ctx.out.say(`${r.alias} -> ${r.ref}${r.previous ? ` (was ${r.previous})` : ''}`);
}
