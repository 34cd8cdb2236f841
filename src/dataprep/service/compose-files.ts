import { composeVersion, type NewFile } from '../../storage/compose/compose.js';
import type { FlatEntry } from '../../storage/tree/build.js';
import { fileChunks, type FileEntry } from '../../storage/tree/node.js';
import { extensionStats } from '../../datasets/index.js';
import type { ComposeResult } from './compose-result.js';
import type { DataprepDeps } from './context.js';

/**
 * A version made of files already stored (split members, files a cleaning kept) plus new
 * bytes (redacted texts): only tree nodes and the new bytes are written.
 */
export async function composeFiles(
  deps: DataprepDeps,
  keep: ReadonlyArray<{ path: string; entry: FileEntry }>,
  added: readonly NewFile[] = [],
): Promise<ComposeResult> {
  const flat: FlatEntry[] = keep.map(({ path, entry: e }) => ({
    path,
    type: 'file',
    size: e.size,
    mode: e.mode,
    digest: e.digest,
    chunks: fileChunks(e),
  }));
  const c = await composeVersion(
    { packs: deps.packs, index: deps.index, packTarget: deps.config.storage.pack_size_mib * 1024 * 1024 },
    flat,
    added,
  );
  const files = [
    ...keep.map((k) => ({ path: k.path, size: k.entry.size })),
    ...added.map((a) => ({ path: a.path, size: a.bytes.length })),
  ];
  return {
    rootId: c.tree.rootId,
    stats: {
      files: c.tree.files,
      bytes: c.tree.bytes,
      dirs: c.tree.dirs,
      symlinks: c.tree.symlinks,
      chunks: c.chunkCount,
      newChunks: c.newChunks,
      newBytes: c.newBytes,
      extensions: extensionStats(files),
    },
    packs: c.packs,
    discard: c.discard,
  };
}
