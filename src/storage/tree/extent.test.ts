import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/digest.js';
import { rejectsWith } from '../../test-support/assert.js';
import { buildTree } from './build.js';
import { diffTrees } from './diff.js';
import { checkTreeExtent } from './extent.js';
import { listFlat } from './list.js';
import { decodeTree, encodeTree, type TreeEntry, type TreeNode } from './node.js';
import { walkTree, type TreeLoader } from './walk.js';

const HEX = 'ab'.repeat(32);

/** A loader over encoded nodes, counting loads (each node must be read once per walk). */
function store(nodes: Array<{ id: string; bytes: Buffer }>): { load: TreeLoader; loads: () => number } {
  const byId = new Map(nodes.map((n) => [n.id, n.bytes]));
  let loads = 0;
  const cache = new Map<string, Promise<TreeNode>>();
  return {
    load: (id) => {
      let p = cache.get(id);
      if (!p) {
        loads++;
        p = Promise.resolve(decodeTree(byId.get(id)!, id));
        cache.set(id, p);
      }
      return p;
    },
    loads: () => loads,
  };
}

/**
 * A tree bomb: `fanout` files at the bottom, then `levels` nodes each naming the level below
 * `fanout` times, with honest counts. A few kilobytes that describe fanout^(levels+1) files.
 */
function bomb(fanout: number, levels: number) {
  const nodes: Array<{ id: string; bytes: Buffer }> = [];
  let entries: TreeEntry[] = Array.from({ length: fanout }, (_, i) => ({
    name: `f${String(i).padStart(4, '0')}`,
    type: 'file',
    size: 1,
    mode: '644',
    digest: HEX,
  }));
  let files = fanout;
  let size = fanout;
  let top = encodeTree({ v: 1, entries });
  nodes.push(top);
  for (let l = 0; l < levels; l++) {
    entries = Array.from({ length: fanout }, (_, i) => ({
      name: `d${String(i).padStart(4, '0')}`,
      type: 'dir',
      tree: top.id,
      files,
      size,
    }));
    files *= fanout;
    size *= fanout;
    top = encodeTree({ v: 1, entries });
    nodes.push(top);
  }
  return { root: top.id, nodes, bytes: nodes.reduce((n, x) => n + x.bytes.length, 0) };
}

describe('tree extent: declared counts are checked, expansion is bounded', () => {
  it('measures an honest tree exactly, reading each node once', async () => {
    const t = buildTree([
      { path: 'a/x.bin', type: 'file', size: 10, mode: '644', digest: HEX, chunks: [HEX] },
      { path: 'a/b/y.bin', type: 'file', size: 5, mode: '755', digest: HEX, chunks: [HEX] },
      { path: 'l', type: 'symlink', target: 'a' },
      { path: 'empty', type: 'dir' },
    ]);
    const s = store(t.nodes);
    expect(await checkTreeExtent(t.rootId, s.load)).toEqual({
      entries: 6,
      files: 2,
      bytes: 15,
      chunks: 0,
      nodes: 4,
      stored: 6,
    });
    expect(s.loads()).toBe(4);
  });

  it('refuses a directory entry whose declared counts differ from its child (CORRUPT_OBJECT)', async () => {
    const child = encodeTree({ v: 1, entries: [{ name: 'x', type: 'file', size: 3, mode: '644', digest: HEX }] });
    for (const lie of [
      { files: 1_000_000_000, size: 3 },
      { files: 1, size: 4 },
    ]) {
      const root = encodeTree({ v: 1, entries: [{ name: 'd', type: 'dir', tree: child.id, ...lie }] });
      const e = await rejectsWith(checkTreeExtent(root.id, store([child, root]).load), 'CORRUPT_OBJECT');
      expect(e.message).toContain('directory d declares');
    }
  });

  it('refuses a 25 KB tree bomb of 10^9 paths before listing it (LIMIT_EXCEEDED), in listFlat, walkTree and diff', async () => {
    const b = bomb(32, 5);
    expect(b.bytes).toBeLessThan(26_000);
    const s = store(b.nodes);
    const e = await rejectsWith(checkTreeExtent(b.root, s.load), 'LIMIT_EXCEEDED');
    expect(e.data).toMatchObject({
      entries: [1, 2, 3, 4, 5, 6].reduce((n, k) => n + 32 ** k, 0),
      files: 32 ** 6,
      nodes: 6,
      stored: 192,
    });
    expect(s.loads()).toBe(6);
    await rejectsWith(listFlat(b.root, s.load), 'LIMIT_EXCEEDED');
    await rejectsWith(
      (async () => {
        for await (const _ of walkTree(b.root, s.load)) void _;
      })(),
      'LIMIT_EXCEEDED',
    );
    await rejectsWith(diffTrees(null, b.root, s.load), 'LIMIT_EXCEEDED');
    // A pair of bombs that differ at every level: a diff never measures whole trees, so it
    // must stop by its own budget.
    const other = bomb(33, 5);
    await rejectsWith(diffTrees(b.root, other.root, store([...b.nodes, ...other.nodes]).load), 'LIMIT_EXCEEDED');
  });

  it('counts chunk lists too: one file listing many chunks, repeated, is refused like a bomb of entries', async () => {
    const chunks = Array.from({ length: 2000 }, (_, i) => sha256Hex(String(i)));
    const leaf = encodeTree({
      v: 1,
      entries: [{ name: 'big.bin', type: 'file', size: 2000, mode: '644', digest: HEX, chunks }],
    });
    const mid = encodeTree({
      v: 1,
      entries: Array.from({ length: 300 }, (_, i) => ({
        name: `d${String(i).padStart(3, '0')}`,
        type: 'dir',
        tree: leaf.id,
        files: 1,
        size: 2000,
      })),
    });
    const root = encodeTree({
      v: 1,
      entries: Array.from({ length: 300 }, (_, i) => ({
        name: `d${String(i).padStart(3, '0')}`,
        type: 'dir',
        tree: mid.id,
        files: 300,
        size: 600_000,
      })),
    });
    const e = await rejectsWith(checkTreeExtent(root.id, store([leaf, mid, root]).load), 'LIMIT_EXCEEDED');
    // 90,000 files: few entries for the floor, but 180 million chunk ids to hold.
    expect(e.data).toMatchObject({ files: 90_000, chunks: 180_000_000 });
  });

  it('lets a modest repetition through: a directory repeated 50 times is real data', async () => {
    const b = bomb(50, 2);
    const s = store(b.nodes);
    expect((await checkTreeExtent(b.root, s.load)).files).toBe(125_000);
    expect((await listFlat(b.root, s.load)).files.length).toBe(125_000);
  });
});
