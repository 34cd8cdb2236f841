import type { OptionsOf } from '../table/define.js';
import type { runCancel } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(id: string, opts: OptionsOf<typeof runCancel>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'run cancel', (s) => s.runs.cancel(id, { wait: opts.wait !== false }));
  ctx.out.result({ id: r.id, status: r.status });
  ctx.out.say(`run ${r.id}: ${r.status}`);
}
