import { removeAlias } from '../../models/aliases.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(name: string, alias: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  await withWorkspace(opts, 'model alias rm', (ws) => removeAlias(ws, name, alias));
  ctx.out.result({ model: name, removed: alias });
  ctx.out.say(`removed ${name}@${alias}`);
}
