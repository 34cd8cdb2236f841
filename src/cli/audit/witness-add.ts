import type { OptionsOf } from '../table/define.js';
import type { auditWitnessAdd } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(url: string, vkey: string, opts: OptionsOf<typeof auditWitnessAdd>): Promise<void> {
  const ctx = commandContext(opts);
  const c = await withServices(opts, 'audit witness add', (s) => s.audit.addWitness(url, vkey));
  ctx.out.result(c);
  ctx.out.say(`added witness ${url}; ${c.witnesses.length} witness(es), policy ${c.policy} of ${c.witnesses.length}`);
  if (c.policy === 0) ctx.out.say(`set how many must cosign: cairn audit witness policy <k>`);
}
