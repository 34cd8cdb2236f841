import type { OptionsOf } from '../table/define.js';
import type { pull as pullCommand } from './commands.js';
import { resolveVersion } from '../../datasets/resolve.js';
import { CairnError } from '../../core/errors.js';
import { materializeShared, sharedCacheDir } from '../../datasets/cluster-cache.js';
import { pull } from '../../transfer/pull.js';
import { commandContext, withWorkspace } from '../context.js';
import { formatBytes } from '../format.js';
import { transferProgress } from './progress.js';
import { warnUnvouched } from './unvouched.js';

export async function run(refs: string[], opts: OptionsOf<typeof pullCommand>): Promise<void> {
  const ctx = commandContext(opts);
  const cache = opts.materialize ? sharedCacheDir(opts.cache, process.env) : null;
  if (opts.materialize && !cache)
    throw new CairnError('USAGE', '--materialize needs a shared cache folder: --cache <dir> or CAIRN_CACHE');
  if (opts.materialize && !refs.length)
    throw new CairnError('USAGE', '--materialize needs the versions to materialize (cairn pull <ref>… --materialize)');
  const t = transferProgress(ctx, 'pull');
  const r = await withWorkspace(opts, 'pull', async (ws) => {
    let res;
    try {
      res = await pull({ ...ws, workspaceId: ws.config.workspace.id }, refs, {
        ...opts,
        progress: t.progress,
        onRetry: t.onRetry,
      });
    } finally {
      t.done();
    }
    const paths: Record<string, string> = {};
    if (cache)
      for (const ref of refs)
        paths[ref] = await materializeShared(ws, (await resolveVersion(ws.meta.db, ref)).version.digest, cache);
    return { ...res, ...(cache ? { materialized: paths } : {}) };
  });
  ctx.out.result(r);
  ctx.out.say(
    `pulled from ${r.remote} (${r.url}): ${r.imported.versions} new version(s) in the metadata; ${r.packs.fetched} pack(s) fetched and verified (${formatBytes(r.bytesFetched)}), ${r.packs.present} already here${r.packs.resumed ? `, ${r.packs.resumed} kept from an interrupted pull` : ''}`,
  );
  for (const [ref, path] of Object.entries(r.materialized ?? {})) ctx.out.say(`${ref} -> ${path}`);
  warnUnvouched(ctx, r.remote, r.skipped);
}
