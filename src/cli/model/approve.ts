import { approve } from '../../models/aliases.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(ref: string, opts: GlobalOptions & { for: string }): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model approve', (ws) => approve(ws, ref, opts.for));
  ctx.out.result(r);
  ctx.out.say(`${r.approver} approved ${r.ref} for ${r.alias}`);
}
