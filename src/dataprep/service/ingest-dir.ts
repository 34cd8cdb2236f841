import type { VersionStats } from '../../datasets/index.js';
import type { ComposeResult } from './compose-result.js';
import { ingest } from '../../storage/ingest/ingest.js';
import type { DataprepDeps } from './context.js';

/** Snapshots a directory Cairn itself wrote (clean and split outputs) into packs. */
export async function ingestOutput(deps: DataprepDeps, dir: string): Promise<ComposeResult> {
  const r = await ingest(
    {
      packs: deps.packs,
      index: deps.index,
      pool: deps.pool,
      packTarget: deps.config.storage.pack_size_mib * 1024 * 1024,
    },
    { source: dir, statCache: null },
  );
  const stats: VersionStats = {
    files: r.tree.files,
    bytes: r.tree.bytes,
    dirs: r.tree.dirs,
    symlinks: r.tree.symlinks,
    chunks: r.chunkCount,
    newChunks: r.newChunks,
    newBytes: r.newBytes,
    extensions: r.extensions,
  };
  return { rootId: r.tree.rootId, stats, packs: r.packs, discard: r.discard };
}
