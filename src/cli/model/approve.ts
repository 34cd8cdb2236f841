import type { OptionsOf } from '../table/define.js';
import type { modelApprove } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelApprove>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model approve', (s) => s.models.approve(ref, opts.for));
  ctx.out.result(r);
  ctx.out.say(`${r.approver} approved ${r.ref} for ${r.alias}`);
}
