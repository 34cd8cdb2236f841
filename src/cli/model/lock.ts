import type { OptionsOf } from '../table/define.js';
import type { modelLock } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelLock>): Promise<void> {
  const ctx = commandContext(opts);
  const l = await withServices(opts, 'model lock', (s) => s.models.lock(ref, opts.file));
  ctx.out.result(l);
  ctx.out.say(
    `${opts.file}: ${Object.entries(l.models)
      .map(([n, e]) => `${n} = ${e.ref} ${e.digest.slice(0, 19)}…`)
      .join(', ')}`,
  );
}
