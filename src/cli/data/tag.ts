import type { OptionsOf } from '../table/define.js';
import type { dataTag } from './commands.js';
import { tagVersion } from '../../datasets/tag.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, tag: string, opts: OptionsOf<typeof dataTag>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'data tag', (ws) => tagVersion(ws, ref, tag, { force: opts.force === true }));
  ctx.out.result(r);
  ctx.out.say(`${r.dataset}@${r.tag} -> ${r.ref}${r.movedFrom ? ` (moved from ${r.movedFrom})` : ''}`);
}
