import type { OptionsOf } from '../table/define.js';
import type { push as pushCommand } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';
import { transferProgress } from './progress.js';

export async function run(refs: string[], opts: OptionsOf<typeof pushCommand>): Promise<void> {
  const ctx = commandContext(opts);
  const t = transferProgress(ctx, 'push');
  const r = await withServices(opts, 'push', async (s) => {
    try {
      return await s.transfer.push(refs, { ...opts, progress: t.progress, onRetry: t.onRetry });
    } finally {
      t.done();
    }
  });
  ctx.out.result(r);
  ctx.out.say(
    `pushed ${r.versions} version(s)${r.models.length ? `, ${r.models.length} model version(s)` : ''}${r.runs.length ? `, ${r.runs.length} run(s)` : ''} to ${r.remote} (${r.url}${r.encrypted ? ', encrypted' : ''}): ${r.packs.sent} pack(s) sent (${formatBytes(r.bytesSent)}), ${r.packs.skipped} already there; audit log up to ${r.audit.size} event(s)`,
  );
  if (r.server)
    ctx.out.say(
      `the server verified the pushed log and imported ${r.server.imported.versions} new version(s)` +
        (r.server.imported.modelVersions ? ` and ${r.server.imported.modelVersions} model version(s)` : '') +
        (r.server.imported.runs ? ` and ${r.server.imported.runs} run(s)` : '') +
        (r.server.skipped ? `; ${r.server.skipped} version(s) no verified log vouches for were left out` : ''),
    );
}
