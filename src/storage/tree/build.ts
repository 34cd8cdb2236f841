import { checkRelPath } from '../../core/paths.js';
import { CairnError } from '../../core/errors.js';
import { checkTreeLinks } from './links.js';
import { compareNames, checkSymlink, encodeTree, type FileMode, type TreeEntry } from './node.js';

export type FlatEntry =
  | { path: string; type: 'file'; size: number; mode: FileMode; digest: string; chunks: string[] }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'dir' };

export interface BuiltTree {
  rootId: string;
  /** Every node of the tree (deduplicated), children before parents. */
  nodes: Array<{ id: string; bytes: Buffer }>;
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

interface DirBuild {
  entries: TreeEntry[];
  dirs: Map<string, DirBuild>;
}

/**
 * Pure: turns a flat list of paths into tree nodes. Paths are validated again here. `flat` is
 * read once, in order, so a generator serves (ingest passes one: no per-file list is copied).
 */
export function buildTree(flat: Iterable<FlatEntry>): BuiltTree {
  const root: DirBuild = { entries: [], dirs: new Map() };
  let files = 0;
  let bytes = 0;
  let symlinks = 0;
  const seen = new Set<string>();
  const links: Array<Extract<FlatEntry, { type: 'symlink' }>> = [];
  for (const f of flat) {
    checkRelPath(f.path);
    if (seen.has(f.path)) throw new CairnError('INVALID_INPUT', `duplicate path ${f.path}`);
    seen.add(f.path);
    const parts = f.path.split('/');
    const name = parts.pop()!;
    let dir = root;
    for (const p of parts) dir = child(dir, p);
    if (f.type === 'dir') {
      child(dir, name);
    } else if (f.type === 'symlink') {
      checkSymlink(f.path, f.target);
      links.push(f);
      dir.entries.push({ name, type: 'symlink', target: f.target });
      symlinks++;
    } else {
      const chunks =
        f.chunks.length === 1 && f.chunks[0] === f.digest ? undefined : f.size === 0 ? undefined : f.chunks;
      dir.entries.push({
        name,
        type: 'file',
        size: f.size,
        mode: f.mode,
        digest: f.digest,
        ...(chunks ? { chunks } : {}),
      });
      files++;
      bytes += f.size;
    }
  }
  // Links are checked against each other too: a chain can leave the tree when no link does.
  checkTreeLinks(links);
  const nodes = new Map<string, Buffer>();
  let dirs = 0;
  const finish = (d: DirBuild): { id: string; size: number; files: number } => {
    let size = 0;
    let count = 0;
    for (const [name, sub] of d.dirs) {
      const r = finish(sub);
      dirs++;
      d.entries.push({ name, type: 'dir', tree: r.id, size: r.size, files: r.files });
      size += r.size;
      count += r.files;
    }
    for (const e of d.entries) {
      if (e.type === 'file') {
        size += e.size;
        count++;
      }
    }
    d.entries.sort((a, b) => compareNames(a.name, b.name));
    for (let i = 1; i < d.entries.length; i++) {
      if (d.entries[i - 1]!.name === d.entries[i]!.name) {
        throw new CairnError('INVALID_INPUT', `path ${d.entries[i]!.name} is both a file and a directory`);
      }
    }
    const { id, bytes: b } = encodeTree({ v: 1, entries: d.entries });
    if (!nodes.has(id)) nodes.set(id, b);
    return { id, size, files: count };
  };
  const r = finish(root);
  return { rootId: r.id, nodes: [...nodes].map(([id, b]) => ({ id, bytes: b })), files, bytes, dirs, symlinks };
}

function child(dir: DirBuild, name: string): DirBuild {
  let d = dir.dirs.get(name);
  if (!d) {
    d = { entries: [], dirs: new Map() };
    dir.dirs.set(name, d);
  }
  return d;
}
