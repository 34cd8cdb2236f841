import { describe, expect, it } from 'vitest';
import { buildTree, type FlatEntry } from './build.js';
import { diffTrees } from './diff.js';
import { decodeTree, type TreeNode } from './node.js';
import type { TreeLoader } from './walk.js';
import { sha256Hex as sha } from '../../core/digest.js';

function file(path: string, content: string, mode: '644' | '755' = '644'): FlatEntry {
  return { path, type: 'file', size: Buffer.byteLength(content), mode, digest: sha(content), chunks: [sha(content)] };
}

function link(path: string, target: string): FlatEntry {
  return { path, type: 'symlink', target };
}

/** A node store shared by every tree a test builds, and a loader that counts what it reads. */
function store() {
  const nodes = new Map<string, Buffer>();
  const loads: string[] = [];
  const build = (flat: FlatEntry[]): string => {
    const built = buildTree(flat);
    for (const n of built.nodes) nodes.set(n.id, n.bytes);
    return built.rootId;
  };
  const load: TreeLoader = async (id) => {
    loads.push(id);
    const b = nodes.get(id);
    if (!b) throw new Error(`no node ${id}`);
    return decodeTree(b, id);
  };
  const subtreeId = (rootId: string, name: string): string => {
    const root = decodeTree(nodes.get(rootId)!, rootId) as TreeNode;
    const e = root.entries.find((x) => x.name === name);
    if (!e || e.type !== 'dir') throw new Error(`no dir ${name}`);
    return e.tree;
  };
  return { build, load, loads, subtreeId };
}

describe('diffTrees', () => {
  it('finds nothing, and reads nothing, between identical trees', async () => {
    const s = store();
    const a = s.build([file('x', '1'), file('d/y', '2')]);
    const b = s.build([file('d/y', '2'), file('x', '1')]);
    expect(await diffTrees(a, b, s.load)).toEqual([]);
    expect(s.loads).toEqual([]);
  });

  it('reports added, removed and modified files with sizes and digests, in name order', async () => {
    const s = store();
    const a = s.build([file('keep', 'k'), file('gone', 'old!'), file('edit', 'v1'), file('chmod', 'x')]);
    const b = s.build([file('keep', 'k'), file('new', 'fresh'), file('edit', 'v2 longer'), file('chmod', 'x', '755')]);
    expect(await diffTrees(a, b, s.load)).toEqual([
      {
        path: 'chmod',
        change: 'modified',
        type: 'file',
        oldSize: 1,
        newSize: 1,
        oldDigest: sha('x'),
        newDigest: sha('x'),
      },
      {
        path: 'edit',
        change: 'modified',
        type: 'file',
        oldSize: 2,
        newSize: 9,
        oldDigest: sha('v1'),
        newDigest: sha('v2 longer'),
      },
      { path: 'gone', change: 'removed', type: 'file', oldSize: 4, newSize: null, oldDigest: sha('old!') },
      { path: 'new', change: 'added', type: 'file', oldSize: null, newSize: 5, newDigest: sha('fresh') },
    ]);
  });

  it('expands whole added and removed directories into their files, with full paths', async () => {
    const s = store();
    const a = s.build([file('old/a', '1'), file('old/sub/b', '22'), file('stay', 's')]);
    const b = s.build([file('stay', 's'), file('new/deep/c', '333'), link('new/l', 'deep/c')]);
    expect(await diffTrees(a, b, s.load)).toEqual([
      { path: 'new/deep/c', change: 'added', type: 'file', oldSize: null, newSize: 3, newDigest: sha('333') },
      { path: 'new/l', change: 'added', type: 'symlink', oldSize: null, newSize: null },
      { path: 'old/a', change: 'removed', type: 'file', oldSize: 1, newSize: null, oldDigest: sha('1') },
      { path: 'old/sub/b', change: 'removed', type: 'file', oldSize: 2, newSize: null, oldDigest: sha('22') },
    ]);
    // From nothing, everything is added; to nothing, everything is removed.
    expect((await diffTrees(null, a, s.load)).map((c) => `${c.change} ${c.path}`)).toEqual([
      'added old/a',
      'added old/sub/b',
      'added stay',
    ]);
    expect((await diffTrees(a, null, s.load)).map((c) => `${c.change} ${c.path}`)).toEqual([
      'removed old/a',
      'removed old/sub/b',
      'removed stay',
    ]);
  });

  it('reports a changed symlink target as a modified symlink', async () => {
    const s = store();
    const a = s.build([file('t1', '1'), file('t2', '2'), link('l', 't1')]);
    const b = s.build([file('t1', '1'), file('t2', '2'), link('l', 't2')]);
    expect(await diffTrees(a, b, s.load)).toEqual([
      { path: 'l', change: 'modified', type: 'symlink', oldSize: null, newSize: null },
    ]);
  });

  it('reports a type change as a removal plus an addition (file ↔ symlink ↔ dir)', async () => {
    const s = store();
    const fileV = s.build([file('t', 't'), file('p', 'content')]);
    const linkV = s.build([file('t', 't'), link('p', 't')]);
    const dirV = s.build([file('t', 't'), file('p/inner', 'i'), file('p/z/deeper', 'dd')]);
    const summary = async (x: string, y: string) =>
      (await diffTrees(x, y, s.load)).map((c) => `${c.change} ${c.type} ${c.path}`);
    expect(await summary(fileV, linkV)).toEqual(['removed file p', 'added symlink p']);
    expect(await summary(linkV, fileV)).toEqual(['removed symlink p', 'added file p']);
    expect(await summary(fileV, dirV)).toEqual(['removed file p', 'added file p/inner', 'added file p/z/deeper']);
    expect(await summary(dirV, linkV)).toEqual(['removed file p/inner', 'removed file p/z/deeper', 'added symlink p']);
  });

  it('descends only into directories whose ids differ: unchanged subtrees are never loaded', async () => {
    const s = store();
    const big = Array.from({ length: 50 }, (_, i) => file(`big/part-${i}/data.csv`, `rows ${i}`));
    const a = s.build([...big, file('small/a', '1'), file('small/deep/b', '2'), file('small/deep/same/c', 'c')]);
    const b = s.build([...big, file('small/a', '1 edited'), file('small/deep/b', '2'), file('small/deep/same/c', 'c')]);
    expect(await diffTrees(a, b, s.load)).toEqual([
      {
        path: 'small/a',
        change: 'modified',
        type: 'file',
        oldSize: 1,
        newSize: 8,
        oldDigest: sha('1'),
        newDigest: sha('1 edited'),
      },
    ]);
    const bigId = s.subtreeId(a, 'big');
    expect(s.subtreeId(b, 'big')).toBe(bigId);
    expect(s.loads).not.toContain(bigId);
    // Exactly the two roots and the two versions of small/: small/deep is shared, so skipped.
    expect(s.loads).toEqual([a, b, s.subtreeId(a, 'small'), s.subtreeId(b, 'small')]);
  });

  it('orders results by UTF-8 bytes of the names, like the trees themselves', async () => {
    const s = store();
    const a = s.build([file('m', 'm')]);
    const b = s.build([file('m', 'm'), file('\u{1F600}', 'e'), file('\uFFFF', 'f'), file('Z', 'z'), file('é', 'é')]);
    expect((await diffTrees(a, b, s.load)).map((c) => c.path)).toEqual(['Z', 'é', '\uFFFF', '\u{1F600}']);
  });
});
