import type { OptionsOf } from '../table/define.js';
import type { fetch } from './commands.js';
import { fetchLocked } from '../../models/lock.js';
import { transferDeps } from '../../app/transfer-config.js';
import { commandContext, withWorkspace, workspaceEnv } from '../context.js';

export async function run(opts: OptionsOf<typeof fetch>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'fetch', (ws) =>
    fetchLocked(transferDeps(ws, workspaceEnv(opts)), opts.lock, opts.dir, opts.remote ? { remote: opts.remote } : {}),
  );
  ctx.out.result({ models: r });
  for (const m of r)
    ctx.out.say(
      `${m.name} ${m.digest.slice(0, 19)}… -> ${m.dir} (${m.files} file(s)${m.pulled ? ', pulled' : ''}, every chunk verified)`,
    );
}
