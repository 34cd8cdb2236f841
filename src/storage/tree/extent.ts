import { CairnError } from '../../core/errors.js';
import type { TreeLoader } from './walk.js';

export interface TreeExtent {
  /** Entries (files, directories, symlinks) of the tree once every directory is expanded. */
  entries: number;
  files: number;
  bytes: number;
  /** Chunk ids listed by the expanded tree's file entries (a checkout holds them all). */
  chunks: number;
  /** Distinct nodes, and what they store between them: entries plus listed chunk ids. */
  nodes: number;
  stored: number;
}

/**
 * How far one version may expand beyond what it stores. Identical directories share a node, so
 * a few kilobytes of nodes that name the same child again and again can describe a billion
 * paths (a "tree bomb"); listing them would take gigabytes. A real dataset repeats a
 * directory now and then, not a hundred times over for every entry it stores.
 */
export const EXPANSION_FLOOR = 1_000_000;
export const EXPANSION_FACTOR = 100;

/**
 * Measures a tree without expanding it: each distinct node is loaded once (memory in
 * proportion to what is stored, never to what is declared), and every directory entry's
 * declared `files` and `size` are checked against its child, so the counts a parent declares
 * are the counts the tree really holds. Refuses a tree whose counts lie (CORRUPT_OBJECT) or
 * whose expansion is out of all proportion to what it stores (LIMIT_EXCEEDED) before anyone
 * allocates a listing for it.
 */
export async function checkTreeExtent(rootId: string, load: TreeLoader): Promise<TreeExtent> {
  const memo = new Map<string, Promise<{ entries: number; files: number; bytes: number; chunks: number }>>();
  let nodes = 0;
  let stored = 0;
  const visit = (id: string): Promise<{ entries: number; files: number; bytes: number; chunks: number }> => {
    let p = memo.get(id);
    if (!p) {
      p = (async () => {
        const node = await load(id);
        nodes++;
        stored += node.entries.length;
        let entries = 0;
        let files = 0;
        let bytes = 0;
        let chunks = 0;
        for (const e of node.entries) {
          entries++;
          if (e.type === 'file') {
            files++;
            bytes += e.size;
            chunks += e.chunks?.length ?? 0;
            stored += e.chunks?.length ?? 0;
          } else if (e.type === 'dir') {
            const sub = await visit(e.tree);
            if (sub.files !== e.files || sub.bytes !== e.size) {
              throw new CairnError(
                'CORRUPT_OBJECT',
                `tree ${id} is malformed: directory ${e.name} declares ${e.files} file(s) of ${e.size} bytes but holds ${sub.files} of ${sub.bytes}`,
                {
                  data: { tree: id, name: e.name },
                },
              );
            }
            entries += sub.entries;
            files += sub.files;
            bytes += sub.bytes;
            chunks += sub.chunks;
          }
        }
        if (!Number.isSafeInteger(bytes) || !Number.isSafeInteger(entries) || !Number.isSafeInteger(chunks)) {
          throw new CairnError('CORRUPT_OBJECT', `tree ${id} is malformed: its sizes overflow`, { data: { tree: id } });
        }
        return { entries, files, bytes, chunks };
      })();
      memo.set(id, p);
    }
    return p;
  };
  const total = await visit(rootId);
  const extent = { ...total, nodes, stored };
  // Chunk ids count like entries: a file listing many chunks, repeated, costs as much.
  if (extent.entries + extent.chunks > EXPANSION_FLOOR + EXPANSION_FACTOR * extent.stored) {
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `tree ${rootId} expands to ${extent.entries} entries and ${extent.chunks} chunk references from ${extent.stored} stored in ${extent.nodes} node(s); refusing to list it`,
      {
        data: { tree: rootId, ...extent },
        hint: 'a version repeats the same directories far more than real data does (a tree bomb); do not check it out',
      },
    );
  }
  return extent;
}
