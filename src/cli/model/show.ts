import type { OptionsOf } from '../table/define.js';
import type { modelShow } from './commands.js';
import { resolveModel } from '../../models/registry.js';
import type { ModelCard } from '../../models/card.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelShow>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model show', async (ws) => {
    const m = await resolveModel(ws, ref);
    const aliases = await ws.meta.db
      .selectFrom('model_aliases')
      .select(['alias'])
      .where('version_id', '=', m.version.id)
      .execute();
    const evaluations = await ws.meta.db
      .selectFrom('model_evaluations')
      .select(['suite', 'passed', 'at'])
      .where('version_id', '=', m.version.id)
      .orderBy('at')
      .execute();
    const approvals = await ws.meta.db
      .selectFrom('model_approvals')
      .select(['alias', 'approver', 'at'])
      .where('version_id', '=', m.version.id)
      .orderBy('at')
      .execute();
    return {
      ref: m.ref,
      digest: `sha256:${m.version.digest}`,
      format: m.version.format,
      run: m.version.run_id,
      created: m.version.created_at,
      by: m.version.created_by,
      aliases: aliases.map((a) => a.alias),
      signature: m.version.signature ? JSON.parse(m.version.signature) : null,
      metrics: (JSON.parse(m.version.card) as ModelCard).metrics,
      evaluations: evaluations.map((e) => ({ ...e, passed: Boolean(e.passed) })),
      approvals,
    };
  });
  ctx.out.result(r);
  ctx.out.say(
    `${r.ref}  ${r.digest}  ${r.format}${r.aliases.length ? `  [${r.aliases.join(', ')}]` : ''}\n  registered ${r.created} by ${r.by}${r.run ? `, trained by run ${r.run}` : ''}`,
  );
  for (const [k, v] of Object.entries(r.metrics)) ctx.out.say(`  metric ${k} = ${v}`);
  for (const e of r.evaluations) ctx.out.say(`  evaluation ${e.suite}: ${e.passed ? 'passed' : 'FAILED'} (${e.at})`);
  for (const a of r.approvals) ctx.out.say(`  approved for ${a.alias} by ${a.approver} (${a.at})`);
}
