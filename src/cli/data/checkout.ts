import type { OptionsOf } from '../table/define.js';
import type { dataCheckout } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';

export async function run(ref: string, dir: string, opts: OptionsOf<typeof dataCheckout>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data checkout', async (s) => {
    const bar = ctx.progress(`checkout ${ref}`);
    try {
      return await s.datasets.checkout({
        ref,
        dir,
        force: opts.force === true,
        link: opts.link,
        onProgress: (d, t) => bar.update(d, t),
      });
    } finally {
      bar.done();
    }
  });
  ctx.out.result(r);
  ctx.out.say(
    `${r.ref} -> ${r.target}: ${r.written} written (${formatBytes(r.bytes)}, ${r.method}), ${r.removed} removed, ${r.unchanged} unchanged`,
  );
  if (r.untracked.length)
    ctx.out.say(`${r.untracked.length} untracked file(s) left alone, e.g. ${r.untracked.slice(0, 3).join(', ')}`);
}
