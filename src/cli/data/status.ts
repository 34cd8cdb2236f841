import type { OptionsOf } from '../table/define.js';
import type { dataStatus } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(path: string, opts: OptionsOf<typeof dataStatus>): Promise<void> {
  const ctx = commandContext(opts);
  const s = await withServices(opts, 'data status', async (s) => {
    const bar = ctx.progress('hashing changed files');
    try {
      return await s.datasets.status(path, opts.name, { onProgress: (d, t) => bar.update(d, t) });
    } finally {
      bar.done();
    }
  });
  ctx.out.result(s);
  ctx.out.say(`comparing ${s.path} with ${s.base ?? `${s.dataset} (no versions yet)`}`);
  if (s.clean) return ctx.out.say(`clean: ${s.unchanged} files unchanged`);
  const show = (mark: string, list: string[]) => {
    for (const p of list.slice(0, 50)) ctx.out.say(`  ${mark} ${p}`);
    if (list.length > 50) ctx.out.say(`  … ${list.length - 50} more`);
  };
  show('added:   ', s.added);
  show('removed: ', s.removed);
  show('modified:', s.modified);
  ctx.out.say(
    `${s.added.length} added, ${s.removed.length} removed, ${s.modified.length} modified, ${s.unchanged} unchanged`,
  );
}
