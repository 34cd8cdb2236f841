import type { OptionsOf } from '../table/define.js';
import type { auditWitnessPolicy } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(k: string, opts: OptionsOf<typeof auditWitnessPolicy>): Promise<void> {
  const ctx = commandContext(opts);
  if (!/^\d+$/.test(k)) throw new CairnError('USAGE', `the policy is a whole number of witnesses, not ${k}`);
  const c = await withServices(opts, 'audit witness policy', (s) => s.audit.setWitnessPolicy(Number(k)));
  ctx.out.result(c);
  ctx.out.say(`a checkpoint is witnessed with ${c.policy} of ${c.witnesses.length} cosignatures`);
}
