import type { OptionsOf } from '../table/define.js';
import type { dataReport } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataReport>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data report', (s) => s.datasets.report(ref, opts.kind));
  ctx.out.result(r);
  ctx.out.say(`${r.ref}: ${r.kind} report ${r.digest} (${r.created}, ${r.by})`);
  ctx.out.say(JSON.stringify(r.body, null, 2));
}
