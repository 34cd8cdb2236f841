import type { OptionsOf } from '../table/define.js';
import type { modelLock } from './commands.js';
import { lockModel } from '../../models/lock.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelLock>): Promise<void> {
  const ctx = commandContext(opts);
  const l = await withWorkspace(opts, 'model lock', (ws) => lockModel(ws, ref, opts.file));
  ctx.out.result(l);
  ctx.out.say(
    `${opts.file}: ${Object.entries(l.models)
      .map(([n, e]) => `${n} = ${e.ref} ${e.digest.slice(0, 19)}…`)
      .join(', ')}`,
  );
}
