import type { OptionsOf } from '../table/define.js';
import type { modelRollback } from './commands.js';
import { rollback } from '../../models/aliases.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelRollback>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model rollback', (ws) => rollback(ws, name, opts.alias));
  ctx.out.result(r);
  ctx.out.say(`${name}@${r.alias} rolled back: ${r.from ?? '(none)'} -> ${r.to}`);
}
