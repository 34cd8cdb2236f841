import type { OptionsOf } from '../table/define.js';
import type { runCancel } from './commands.js';
import { cancelRun, waitRun } from '../../compute/runs/service.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(id: string, opts: OptionsOf<typeof runCancel>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'run cancel', async (ws) => {
    const c = await cancelRun(ws, id);
    return opts.wait === false ? c : waitRun(ws, c.id, { timeoutMs: 10 * 60_000 });
  });
  ctx.out.result({ id: r.id, status: r.status });
  ctx.out.say(`run ${r.id}: ${r.status}`);
}
