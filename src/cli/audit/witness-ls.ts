import type { OptionsOf } from '../table/define.js';
import type { auditWitnessLs } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof auditWitnessLs>): Promise<void> {
  const ctx = commandContext(opts);
  const c = await withServices(opts, 'audit witness ls', (s) => s.audit.witnessConfig());
  ctx.out.result(c);
  if (c.witnesses.length === 0) ctx.out.say('no witnesses: cairn audit witness add <url> <vkey>');
  for (const w of c.witnesses) ctx.out.say(`${w.url}  ${w.vkey}`);
  ctx.out.say(`policy: ${c.policy} of ${c.witnesses.length} (kept in ${c.where})`);
}
