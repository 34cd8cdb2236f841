import type { OptionsOf } from '../table/define.js';
import type { dataDiff } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';

export async function run(from: string, to: string, opts: OptionsOf<typeof dataDiff>): Promise<void> {
  const ctx = commandContext(opts);
  const d = await withServices(opts, 'data diff', (s) => s.datasets.diff(from, to));
  ctx.out.result(d);
  for (const c of d.added) ctx.out.say(`+ ${c.path}  ${c.newSize !== null ? formatBytes(c.newSize) : c.type}`);
  for (const c of d.removed) ctx.out.say(`- ${c.path}  ${c.oldSize !== null ? formatBytes(c.oldSize) : c.type}`);
  for (const c of d.modified)
    ctx.out.say(
      `M ${c.path}  ${c.oldSize !== null ? formatBytes(c.oldSize) : ''} -> ${c.newSize !== null ? formatBytes(c.newSize) : ''}`,
    );
  ctx.out.say(
    `${d.from} -> ${d.to}: ${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.modified} modified (+${formatBytes(d.summary.bytesAdded)}, -${formatBytes(d.summary.bytesRemoved)})`,
  );
}
