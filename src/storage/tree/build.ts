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
  /** How many times the flat list named this directory itself (more than once: a duplicate). */
  listed: number;
}

/**
 * Pure: turns a flat list of paths into tree nodes. Paths are validated again here. `flat` is
 * read once, in order, so a generator serves (ingest passes one: no per-file list is copied).
 */
export function buildTree(flat: Iterable<FlatEntry>): BuiltTree {
  const root: DirBuild = { entries: [], dirs: new Map(), listed: 0 };
  let files = 0;
  let bytes = 0;
  let symlinks = 0;
  const links: Array<Extract<FlatEntry, { type: 'symlink' }>> = [];
  for (const f of flat) {
    checkRelPath(f.path);
    const parts = f.path.split('/');
    const name = parts.pop()!;
    let dir = root;
    for (const p of parts) dir = child(dir, p);
    if (f.type === 'dir') {
      child(dir, name).listed++;
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
  // Duplicates are found per directory once its entries are sorted (adjacent equal names), not
  // with a set of every path: at a million files that set alone was ~50 MB (issue 16).
  const finish = (d: DirBuild, at: string): { id: string; size: number; files: number } => {
    let size = 0;
    let count = 0;
    for (const [name, sub] of d.dirs) {
      if (sub.listed > 1) throw new CairnError('INVALID_INPUT', `duplicate path ${at}${name}`);
      const r = finish(sub, `${at}${name}/`);
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
      const a = d.entries[i - 1]!;
      const b = d.entries[i]!;
      if (a.name !== b.name) continue;
      if (a.type !== 'dir' && b.type !== 'dir') throw new CairnError('INVALID_INPUT', `duplicate path ${at}${b.name}`);
      throw new CairnError('INVALID_INPUT', `path ${b.name} is both a file and a directory`);
    }
    const { id, bytes: b } = encodeTree({ v: 1, entries: d.entries });
    if (!nodes.has(id)) nodes.set(id, b);
    // The entries live on in the encoded node: let them go now, not when the whole tree is done.
    d.entries = [];
    d.dirs.clear();
    return { id, size, files: count };
  };
  const r = finish(root, '');
  return { rootId: r.id, nodes: [...nodes].map(([id, b]) => ({ id, bytes: b })), files, bytes, dirs, symlinks };
}

function child(dir: DirBuild, name: string): DirBuild {
  let d = dir.dirs.get(name);
  if (!d) {
    d = { entries: [], dirs: new Map(), listed: 0 };
    dir.dirs.set(name, d);
  }
  return d;
}
