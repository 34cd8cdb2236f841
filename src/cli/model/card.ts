import { cardMarkdown, type ModelCard } from '../../models/card.js';
import { resolveModel } from '../../models/registry.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(ref: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const card = await withWorkspace(opts, 'model card', async (ws) => JSON.parse((await resolveModel(ws, ref)).version.card) as ModelCard);
  if (ctx.json) ctx.out.result(card);
  else process.stdout.write(cardMarkdown(card));
}
