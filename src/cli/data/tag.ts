import type { OptionsOf } from '../table/define.js';
import type { dataTag } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, tag: string, opts: OptionsOf<typeof dataTag>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data tag', (s) => s.datasets.tag(ref, tag, { force: opts.force === true }));
  ctx.out.result(r);
  ctx.out.say(`${r.dataset}@${r.tag} -> ${r.ref}${r.movedFrom ? ` (moved from ${r.movedFrom})` : ''}`);
}
