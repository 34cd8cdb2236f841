import type { OptionsOf } from '../table/define.js';
import type { modelAliasRm } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, alias: string, opts: OptionsOf<typeof modelAliasRm>): Promise<void> {
  const ctx = commandContext(opts);
  await withServices(opts, 'model alias rm', (s) => s.models.removeAlias(name, alias));
  ctx.out.result({ model: name, removed: alias });
  ctx.out.say(`removed ${name}@${alias}`);
}
