import { type FileEntry } from '../tree/node.js';
import { fileChunks } from '../tree/node.js';
import type { TreeLoader } from '../tree/walk.js';

export interface TreeDamage {
  /** Files (paths relative to the tree) with at least one damaged chunk; at most MAX_LISTED. */
  files: string[];
  /** Subtrees that could not be read at all (paths; '' for the tree itself); at most MAX_LISTED. */
  unreadable: string[];
  /** Damaged files and unreadable subtrees beyond those listed. */
  more: number;
}

/**
 * Paths listed per tree. A damaged node that many directories share would otherwise be
 * listed once per path that reaches it, which for a tree bomb is billions of paths.
 */
export const MAX_LISTED = 1000;

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
        if (isBad(id)) return { files: [], unreadable: [''], more: 0 };
        let node;
        try {
          node = await load(id);
        } catch {
          return { files: [], unreadable: [''], more: 0 };
        }
        const out: TreeDamage = { files: [], unreadable: [], more: 0 };
        const list = (to: string[], path: string) => {
          if (to.length < MAX_LISTED) to.push(path);
          else out.more++;
        };
        for (const e of node.entries) {
          if (e.type === 'file') {
            const chunks = fileChunks(e as FileEntry);
            if (reach) for (const c of chunks) reach.add(c);
            if (chunks.some(isBad)) list(out.files, e.name);
          } else if (e.type === 'dir') {
            const sub = await visit(e.tree);
            for (const f of sub.files) list(out.files, `${e.name}/${f}`);
            for (const u of sub.unreadable) list(out.unreadable, u ? `${e.name}/${u}` : e.name);
            out.more += sub.more;
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
