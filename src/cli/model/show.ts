import type { OptionsOf } from '../table/define.js';
import type { modelShow } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelShow>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model show', (s) => s.models.show(ref));
  ctx.out.result(r);
  ctx.out.say(
    `${r.ref}  ${r.digest}  ${r.format}${r.aliases.length ? `  [${r.aliases.join(', ')}]` : ''}\n  registered ${r.created} by ${r.by}${r.run ? `, trained by run ${r.run}` : ''}`,
  );
  for (const [k, v] of Object.entries(r.metrics)) ctx.out.say(`  metric ${k} = ${v}`);
  for (const e of r.evaluations) ctx.out.say(`  evaluation ${e.suite}: ${e.passed ? 'passed' : 'FAILED'} (${e.at})`);
  for (const a of r.approvals) ctx.out.say(`  approved for ${a.alias} by ${a.approver} (${a.at})`);
}
