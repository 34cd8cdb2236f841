import type { OptionsOf } from '../table/define.js';
import type { gc } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { formatBytes } from '../format.js';

export async function run(opts: OptionsOf<typeof gc>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, opts.dryRun ? 'gc --dry-run' : 'gc', (s) =>
    s.admin.gc({ dryRun: opts.dryRun === true, purge: opts.purge === true }),
  );
  ctx.out.result(r);
  const verb = r.dryRun ? 'would free' : 'freed';
  ctx.out.say(
    `${verb} ${formatBytes(r.bytesFreed)}: ${r.packsDeleted} unused pack(s), ${r.orphanPacksDeleted} orphan pack(s), ${r.packsRepacked} repacked (${formatBytes(r.bytesCopied)} copied), ${r.tempFilesDeleted} temp file(s), ${formatBytes(r.cacheBytesFreed)} of caches; ${r.roots} version(s) kept`,
  );
}
