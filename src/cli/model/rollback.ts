import type { OptionsOf } from '../table/define.js';
import type { modelRollback } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelRollback>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model rollback', (s) =>
    s.models.rollback(name, opts.alias, opts.override ? { override: opts.override } : {}),
  );
  ctx.out.result(r);
  ctx.out.say(`${name}@${r.alias} rolled back: ${r.from ?? '(none)'} -> ${r.to}`);
  if (r.overridden.length) ctx.out.say(`  policy overridden (recorded in the audit log): ${r.overridden.join('; ')}`);
}
