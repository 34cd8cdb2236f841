import type { OptionsOf } from '../table/define.js';
import type { auditTimestampRm } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof auditTimestampRm>): Promise<void> {
  const ctx = commandContext(opts);
  await withServices(opts, 'audit timestamp rm', (s) => s.audit.setTimestampAuthority(null, null));
  ctx.out.result({ removed: true });
  ctx.out.say('checkpoints are no longer timestamped (tokens already kept stay)');
}
