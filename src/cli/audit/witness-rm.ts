import type { OptionsOf } from '../table/define.js';
import type { auditWitnessRm } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(which: string, opts: OptionsOf<typeof auditWitnessRm>): Promise<void> {
  const ctx = commandContext(opts);
  const c = await withServices(opts, 'audit witness rm', (s) => s.audit.removeWitness(which));
  ctx.out.result(c);
  ctx.out.say(`removed ${which}; ${c.witnesses.length} witness(es) left, policy ${c.policy}`);
}
