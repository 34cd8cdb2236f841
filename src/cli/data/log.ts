import type { OptionsOf } from '../table/define.js';
import type { dataLog } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes, shortDigest } from '../format.js';

export async function run(name: string, opts: OptionsOf<typeof dataLog>): Promise<void> {
  const ctx = commandContext(opts);
  const versions = await withServices(opts, 'data log', (s) => s.datasets.log(name));
  ctx.out.result(versions);
  for (const v of versions) {
    const tags = v.tags.length ? ` (${v.tags.join(', ')})` : '';
    ctx.out.say(`${v.ref}${tags}  ${shortDigest(v.digest)}  ${v.created}  ${v.author}`);
    ctx.out.say(
      `    ${v.files} files, ${formatBytes(v.bytes)}, ${formatBytes(v.newBytes)} new${v.derivedFrom.length ? `; derived from ${v.derivedFrom.join(', ')}` : ''}`,
    );
    if (v.message) ctx.out.say(`    ${v.message}`);
  }
}
