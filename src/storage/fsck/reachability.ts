import { type FileEntry } from '../tree/node.js';
import { fileChunks } from '../tree/node.js';
import type { TreeLoader } from '../tree/walk.js';

export interface TreeDamage {
  /** Files (paths relative to the tree) with at least one damaged chunk. */
  files: string[];
  /** Subtrees that could not be read at all (paths; '' for the tree itself). */
  unreadable: string[];
}

/**
 * Which files of which trees touch damaged blobs, visiting each distinct tree node once even
 * when thousands of versions share it. Also collects every reachable blob id when `reach` is
 * given (gc uses that).
 */
export function damageFinder(load: TreeLoader, isBad: (blob: string) => boolean, reach?: Set<string>) {
  const memo = new Map<string, Promise<TreeDamage>>();
  const visit = (id: string): Promise<TreeDamage> => {
    let p = memo.get(id);
    if (!p) {
      p = (async () => {
        reach?.add(id);
        if (isBad(id)) return { files: [], unreadable: [''] };
        let node;
        try {
          node = await load(id);
        } catch {
          return { files: [], unreadable: [''] };
        }
        const out: TreeDamage = { files: [], unreadable: [] };
        for (const e of node.entries) {
          if (e.type === 'file') {
            const chunks = fileChunks(e as FileEntry);
            if (reach) for (const c of chunks) reach.add(c);
            if (chunks.some(isBad)) out.files.push(e.name);
          } else if (e.type === 'dir') {
            const sub = await visit(e.tree);
            for (const f of sub.files) out.files.push(`${e.name}/${f}`);
            for (const u of sub.unreadable) out.unreadable.push(u ? `${e.name}/${u}` : e.name);
          }
        }
        return out;
      })();
      memo.set(id, p);
    }
    return p;
  };
  return visit;
}
