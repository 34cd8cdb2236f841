import { createHash } from 'node:crypto';
import type { BlobIndex } from '../blob-index.js';
import { chunkBuffer, DEFAULT_CHUNK_PARAMS } from '../chunker/index.js';
import { DEFAULT_PACK_TARGET, PackRoller } from '../ingest/pack-roller.js';
import { discardSealed } from '../objects/discard.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { BlobKind } from '../pack/format.js';
import type { FinishedPack } from '../pack/writer.js';
import { buildTree, type BuiltTree, type FlatEntry } from '../tree/build.js';
import type { FileMode } from '../tree/node.js';

export interface NewFile {
  path: string;
  mode: FileMode;
  bytes: Buffer;
}

export interface Composed {
  tree: BuiltTree;
  packs: FinishedPack[];
  newBytes: number;
  newChunks: number;
  chunkCount: number;
  /** The packs will not be recorded: removes them where safe (objects/discard.ts). */
  discard(): Promise<void>;
}

/**
 * Builds a version out of files already in the store (referenced by digest and chunks, so
 * nothing is read or copied) plus a few new files given as bytes (e.g. redacted texts).
 * Used by splits and cleaning of file collections: a split of a million images writes only
 * tree nodes.
 */
export async function composeVersion(
  deps: { packs: LocalPackDir; index: BlobIndex; packTarget?: number },
  existing: readonly FlatEntry[],
  added: readonly NewFile[] = [],
): Promise<Composed> {
  await deps.packs.ensure();
  const roller = new PackRoller(deps.packs, deps.packTarget ?? DEFAULT_PACK_TARGET);
  let newBytes = 0;
  let newChunks = 0;
  const written = new Set<string>();
  try {
    const flat: FlatEntry[] = [...existing];
    const fresh: Array<{ id: string; bytes: Uint8Array; kind: 1 | 2 }> = [];
    for (const f of added) {
      const digest = createHash('sha256').update(f.bytes).digest('hex');
      const chunks: string[] = [];
      let start = 0;
      for (const end of f.bytes.length ? chunkBuffer(f.bytes, DEFAULT_CHUNK_PARAMS) : []) {
        const bytes = f.bytes.subarray(start, end);
        const id = createHash('sha256').update(bytes).digest('hex');
        chunks.push(id);
        fresh.push({ id, bytes, kind: BlobKind.chunk });
        start = end;
      }
      flat.push({ path: f.path, type: 'file', size: f.bytes.length, mode: f.mode, digest, chunks });
    }
    const tree = buildTree(flat);
    for (const n of tree.nodes) fresh.push({ id: n.id, bytes: n.bytes, kind: BlobKind.tree });
    const known = await deps.index.has([...new Set(fresh.map((b) => b.id))]);
    for (const b of fresh) {
      if (known.has(b.id) || written.has(b.id)) continue;
      written.add(b.id);
      await roller.append(b.kind, b.id, b.bytes);
      newBytes += b.bytes.length;
      if (b.kind === BlobKind.chunk) newChunks++;
    }
    const packs = await roller.finish();
    let chunkCount = 0;
    for (const e of flat) if (e.type === 'file') chunkCount += e.chunks.length;
    return {
      tree,
      packs,
      newBytes,
      newChunks,
      chunkCount,
      // Removed only where certainly safe (objects/discard.ts); else orphans for add or gc.
      discard: () => discardSealed(packs, deps),
    };
  } catch (err) {
    await roller.discard(deps.index);
    throw err;
  }
}
