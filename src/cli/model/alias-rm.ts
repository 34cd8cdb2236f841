import type { OptionsOf } from '../table/define.js';
import type { modelAliasRm } from './commands.js';
import { removeAlias } from '../../models/aliases.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(name: string, alias: string, opts: OptionsOf<typeof modelAliasRm>): Promise<void> {
  const ctx = commandContext(opts);
  await withWorkspace(opts, 'model alias rm', (ws) => removeAlias(ws, name, alias));
  ctx.out.result({ model: name, removed: alias });
  ctx.out.say(`removed ${name}@${alias}`);
}
