import type { OptionsOf } from '../table/define.js';
import type { clone } from './commands.js';
import { cloneWorkspace } from '../../app/clone.js';
import { commandContext, workspaceEnv } from '../context.js';
import { warnUnvouched } from './unvouched.js';

export async function run(url: string, dir: string, opts: OptionsOf<typeof clone>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await cloneWorkspace(url, dir, opts, workspaceEnv(opts));
  ctx.out.result(r);
  ctx.out.say(
    `cloned ${r.url} into ${r.dir}: ${r.versions} version(s) of ${r.datasets} dataset(s) (data stays remote until \`cairn pull\`)`,
  );
  for (const l of r.auditLogs)
    ctx.out.say(
      `verified the audit log of workspace ${l.workspace}: ${l.size} event(s), root ${l.root.slice(0, 16)}…, signed by ${l.verifierKey} (compare it with the key that workspace printed at \`cairn init\`)`,
    );
  warnUnvouched(ctx, opts.name, r.skipped);
}
