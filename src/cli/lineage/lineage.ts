import type { OptionsOf } from '../table/define.js';
import type { lineage } from './commands.js';
import { lineageOf, renderLineage } from '../../lineage/lineage.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof lineage>): Promise<void> {
  const ctx = commandContext(opts);
  const direction = opts.up && !opts.down ? 'up' : opts.down && !opts.up ? 'down' : 'both';
  const g = await withWorkspace(opts, 'lineage', (ws) => lineageOf(ws.meta.db, ref, direction));
  ctx.out.result(g);
  ctx.out.say(renderLineage(g));
}
