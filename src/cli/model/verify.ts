import { CairnError } from '../../core/errors.js';
import { verifyModel } from '../../models/registry.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(ref: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model verify', (ws) => verifyModel(ws, ref));
  if (!r.ok) throw new CairnError('CORRUPT_OBJECT', `${r.ref} does not verify: ${r.problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`, { data: { report: r } });
  ctx.out.result(r);
  ctx.out.say(`ok: ${r.ref} ${r.digest}: ${r.files} file(s), every byte re-hashed`);
}
