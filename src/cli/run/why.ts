import { getRun, syncRuns } from '../../compute/runs/service.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

/** The machine-readable reason a run waits, was refused or ended as it did. */
export async function run(id: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'run why', async (ws) => {
    await syncRuns(ws);
    return getRun(ws, id);
  });
  const reason = r.reason ? (JSON.parse(r.reason) as { code: string; message: string }) : null;
  ctx.out.result({ id: r.id, status: r.status, reason });
  ctx.out.say(reason ? `${r.status}: ${reason.code}: ${reason.message}` : `${r.status}: nothing is holding it`);
}
