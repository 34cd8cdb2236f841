import type { OptionsOf } from '../table/define.js';
import type { auditExport } from './commands.js';
import { resolve } from 'node:path';
import { exportBundle } from '../../audit/export/bundle.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(dir: string, opts: OptionsOf<typeof auditExport>): Promise<void> {
  const ctx = commandContext(opts);
  const target = resolve(dir);
  const r = await withWorkspace(opts, 'audit export', async (ws) =>
    ws.audit.audited(
      { action: 'audit.export', target: { type: 'audit-log', name: ws.config.audit.origin } },
      async (commit, draft) => {
        const res = await exportBundle(ws.meta.db, ws.audit, target);
        await commit(async () => {
          draft.params = { size: res.size, root: res.root, checkpoints: res.checkpoints };
        });
        return res;
      },
    ),
  );
  ctx.out.result(r);
  ctx.out.say(`exported ${r.size} entries and ${r.checkpoints} checkpoints to ${r.dir}`);
  ctx.out.say(`verify with: cairn audit verify --bundle ${r.dir}   or: ${r.dir}/verify.sh`);
}
