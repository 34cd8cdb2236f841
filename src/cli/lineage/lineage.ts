import type { OptionsOf } from '../table/define.js';
import type { lineage } from './commands.js';
import { lineageDot, lineageMermaid, renderLineage } from '../../lineage/index.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof lineage>): Promise<void> {
  const ctx = commandContext(opts);
  const direction = opts.up && !opts.down ? 'up' : opts.down && !opts.up ? 'down' : 'both';
  const g = await withServices(opts, 'lineage', (s) => s.lineage.of(ref, direction));
  ctx.out.result(g);
  ctx.out.say(opts.mermaid ? lineageMermaid(g) : opts.dot ? lineageDot(g) : renderLineage(g));
}
