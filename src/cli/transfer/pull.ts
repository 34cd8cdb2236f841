import type { OptionsOf } from '../table/define.js';
import type { pull as pullCommand } from './commands.js';
import { sharedCache } from '../../app/transfer-config.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices, workspaceEnv } from '../context.js';
import { formatBytes } from '../format.js';
import { transferProgress } from './progress.js';
import { warnUnvouched, warnUnvouchedModels, warnUnvouchedRuns } from './unvouched.js';

export async function run(refs: string[], opts: OptionsOf<typeof pullCommand>): Promise<void> {
  const ctx = commandContext(opts);
  const cache = opts.materialize ? sharedCache(opts.cache, workspaceEnv(opts)) : null;
  if (opts.materialize && !cache)
    throw new CairnError('USAGE', '--materialize needs a shared cache folder: --cache <dir> or CAIRN_CACHE');
  if (opts.materialize && !refs.length)
    throw new CairnError('USAGE', '--materialize needs the versions to materialize (cairn pull <ref>… --materialize)');
  const t = transferProgress(ctx, 'pull');
  const r = await withServices(opts, 'pull', async (s) => {
    try {
      return await s.transfer.pull(refs, {
        ...opts,
        allowUnvouchedErasures: opts.allowUnvouchedErasures.flatMap((x) => x.split(',')).filter(Boolean),
        progress: t.progress,
        onRetry: t.onRetry,
        ...(cache ? { materializeIn: cache } : {}),
      });
    } finally {
      t.done();
    }
  });
  ctx.out.result(r);
  ctx.out.say(
    `pulled from ${r.remote} (${r.url}): ${r.imported.versions} new version(s)${r.imported.modelVersions ? ` and ${r.imported.modelVersions} model version(s)` : ''}${r.imported.runs ? ` and ${r.imported.runs} run(s)` : ''} in the metadata; ${r.packs.fetched} pack(s) fetched and verified (${formatBytes(r.bytesFetched)}), ${r.packs.present} already here${r.packs.resumed ? `, ${r.packs.resumed} kept from an interrupted pull` : ''}`,
  );
  for (const [ref, path] of Object.entries(r.materialized ?? {})) ctx.out.say(`${ref} -> ${path}`);
  if (r.erased.length)
    ctx.out.say(
      `note: ${r.erased.length} version(s) came as erased (their erasure is in a verified log on ${r.remote}): ${some(r.erased.map((e) => `${e.dataset}@v${e.number}`))}`,
    );
  if (r.withoutData.length)
    ctx.out.say(
      `note: imported as metadata only, as --allow-unvouched-erasures asked (no log on ${r.remote} vouches for their erasure; not recorded as erased): ${some(r.withoutData)}`,
    );
  warnUnvouched(ctx, r.remote, r.skipped);
  warnUnvouchedModels(ctx, r.remote, r.models.skipped);
  warnUnvouchedRuns(ctx, r.remote, r.runs.skipped);
}

function some(list: readonly string[]): string {
  return `${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`;
}
