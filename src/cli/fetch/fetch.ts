import { fetchLocked } from '../../models/lock.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(opts: GlobalOptions & { lock: string; dir: string; remote?: string }): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'fetch', (ws) =>
    fetchLocked(ws, opts.lock, opts.dir, opts.remote ? { remote: opts.remote } : {}),
  );
  ctx.out.result({ models: r });
  for (const m of r)
    ctx.out.say(
      `${m.name} ${m.digest.slice(0, 19)}… -> ${m.dir} (${m.files} file(s)${m.pulled ? ', pulled' : ''}, every chunk verified)`,
    );
}
