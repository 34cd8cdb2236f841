import type { OptionsOf } from '../table/define.js';
import type { modelCard } from './commands.js';
import { cardMarkdown, type ModelCard } from '../../models/card.js';
import { resolveModel } from '../../models/registry.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelCard>): Promise<void> {
  const ctx = commandContext(opts);
  const card = await withWorkspace(opts, 'model card', async (ws) => {
    const m = await resolveModel(ws, ref);
    const c = JSON.parse(m.version.card) as ModelCard;
    // Verdicts come after registration: the card shows them as they stand now.
    const evals = await ws.meta.db
      .selectFrom('model_evaluations')
      .select(['suite', 'passed', 'report', 'at'])
      .where('version_id', '=', m.version.id)
      .orderBy('at')
      .execute();
    c.evaluations = evals.map((e) => ({
      suite: e.suite,
      passed: Boolean(e.passed),
      data: (JSON.parse(e.report) as { data?: string }).data ?? null,
      at: e.at,
    }));
    return c;
  });
  if (ctx.json) ctx.out.result(card);
  else process.stdout.write(cardMarkdown(card));
}
