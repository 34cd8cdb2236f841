import type { OptionsOf } from '../table/define.js';
import type { modelCard } from './commands.js';
import { cardMarkdown } from '../../models/index.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelCard>): Promise<void> {
  const ctx = commandContext(opts);
  const card = await withServices(opts, 'model card', (s) => s.models.card(ref));
  if (ctx.json) ctx.out.result(card);
  else process.stdout.write(cardMarkdown(card));
}
