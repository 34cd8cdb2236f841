import type { OptionsOf } from '../table/define.js';
import type { dataHolds } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string | undefined, opts: OptionsOf<typeof dataHolds>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data holds', (s) => s.compliance.holds(ref));
  ctx.out.result(r);
  if (r.length === 0) ctx.out.say('no holds');
  for (const h of r)
    ctx.out.say(
      `${h.active ? 'ACTIVE ' : 'ended  '} ${h.id} ${h.ref} ${h.kind === 'retention' ? `retained until ${h.until}` : 'legal hold'}, set ${h.createdAt} by ${h.createdBy}${h.releasedAt ? `, lifted ${h.releasedAt} by ${h.releasedBy}` : ''}: ${h.reason}`,
    );
}
