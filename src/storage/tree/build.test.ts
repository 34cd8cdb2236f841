import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { buildTree, type FlatEntry } from './build.js';
import { decodeTree, EMPTY_FILE_DIGEST, encodeTree, fileChunks, type FileEntry, type TreeNode } from './node.js';
import { sha256Hex as sha } from '../../core/digest.js';

function file(path: string, content: string, mode: '644' | '755' = '644'): FlatEntry {
  return {
    path,
    type: 'file',
    size: Buffer.byteLength(content),
    mode,
    digest: sha(content),
    chunks: content.length ? [sha(content)] : [],
  };
}

function caught(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

/** Decodes every node of a built tree, checking each node's id is its bytes' digest. */
function nodesOf(built: ReturnType<typeof buildTree>): Map<string, TreeNode> {
  const out = new Map<string, TreeNode>();
  for (const n of built.nodes) {
    expect(createHash('sha256').update(n.bytes).digest('hex')).toBe(n.id);
    out.set(n.id, decodeTree(n.bytes, n.id));
  }
  return out;
}

const EMPTY_NODE_ID = sha('{"entries":[],"v":1}');

describe('buildTree', () => {
  it('nests directories, aggregates size and file counts, and lists children before parents', () => {
    const built = buildTree([
      file('a.txt', 'A'),
      file('sub/b.txt', 'BB'),
      file('sub/deep/c.txt', 'CCC', '755'),
      file('sub/deep/d.txt', ''),
    ]);
    expect({ files: built.files, bytes: built.bytes, dirs: built.dirs, symlinks: built.symlinks }).toEqual({
      files: 4,
      bytes: 6,
      dirs: 2,
      symlinks: 0,
    });
    const nodes = nodesOf(built);
    expect(built.nodes.at(-1)!.id).toBe(built.rootId);
    const root = nodes.get(built.rootId)!;
    expect(root.entries.map((e) => [e.name, e.type])).toEqual([
      ['a.txt', 'file'],
      ['sub', 'dir'],
    ]);
    const sub = root.entries[1]!;
    expect(sub).toMatchObject({ type: 'dir', size: 5, files: 3 });
    const subNode = nodes.get((sub as { tree: string }).tree)!;
    const deep = subNode.entries.find((e) => e.name === 'deep')!;
    expect(deep).toMatchObject({ type: 'dir', size: 3, files: 2 });
    expect(nodes.get((deep as { tree: string }).tree)!.entries).toEqual([
      { name: 'c.txt', type: 'file', size: 3, mode: '755', digest: sha('CCC') },
      { name: 'd.txt', type: 'file', size: 0, mode: '644', digest: EMPTY_FILE_DIGEST },
    ]);
    // Children precede their parents, so a store can write nodes in this order.
    const order = built.nodes.map((n) => n.id);
    expect(order.indexOf((deep as { tree: string }).tree)).toBeLessThan(order.indexOf((sub as { tree: string }).tree));
  });

  it('writes canonical bytes, the same whatever order the paths come in', () => {
    const list = [file('b', 'x'), file('a/z', 'y'), { path: 'a/link', type: 'symlink', target: 'z' } as FlatEntry];
    const one = buildTree(list);
    const two = buildTree([...list].reverse());
    expect(two.rootId).toBe(one.rootId);
    expect(two.nodes).toEqual(one.nodes);
    const aNode = buildTree([file('z', 'y'), { path: 'link', type: 'symlink', target: 'z' }]);
    const root = one.nodes.find((n) => n.id === one.rootId)!;
    expect(root.bytes.toString()).toBe(
      `{"entries":[{"files":1,"name":"a","size":1,"tree":"${aNode.rootId}","type":"dir"},{"digest":"${sha('x')}","mode":"644","name":"b","size":1,"type":"file"}],"v":1}`,
    );
    expect(root.bytes.toString()).toBe(canonicalJson(JSON.parse(root.bytes.toString())));
  });

  it('keeps empty directories as entries pointing at the empty node', () => {
    const built = buildTree([
      { path: 'empty', type: 'dir' },
      { path: 'x/also-empty', type: 'dir' },
    ]);
    const nodes = nodesOf(built);
    expect(built.dirs).toBe(3);
    expect(nodes.get(built.rootId)!.entries).toEqual([
      { name: 'empty', type: 'dir', tree: EMPTY_NODE_ID, size: 0, files: 0 },
      { name: 'x', type: 'dir', tree: expect.any(String), size: 0, files: 0 },
    ]);
    // An explicit dir entry for a directory that also has files changes nothing.
    expect(buildTree([{ path: 'd', type: 'dir' }, file('d/f', '1')]).rootId).toBe(buildTree([file('d/f', '1')]).rootId);
    expect(buildTree([]).rootId).toBe(EMPTY_NODE_ID);
  });

  it('stores identical subtrees once', () => {
    const built = buildTree([
      file('train/x.csv', '1,2'),
      file('test/x.csv', '1,2'),
      file('raw/x.csv', '1,2'),
      file('other/y', 'y'),
    ]);
    const root = nodesOf(built).get(built.rootId)!;
    const trees = Object.fromEntries(root.entries.map((e) => [e.name, (e as { tree: string }).tree]));
    expect(trees.train).toBe(trees.test);
    expect(trees.raw).toBe(trees.test);
    expect(trees.other).not.toBe(trees.test);
    expect(built.nodes).toHaveLength(3);
    expect(built.dirs).toBe(4);
  });

  it('uses the one-chunk shorthand exactly when the single chunk is the whole file', () => {
    const one = file('one', 'content');
    const multi: FlatEntry = {
      path: 'multi',
      type: 'file',
      size: 10,
      mode: '644',
      digest: sha('whole'),
      chunks: [sha('c1'), sha('c2')],
    };
    const oddSingle: FlatEntry = {
      path: 'odd',
      type: 'file',
      size: 5,
      mode: '644',
      digest: sha('whole2'),
      chunks: [sha('c3')],
    };
    const built = buildTree([one, multi, oddSingle, file('empty', '')]);
    const entries = nodesOf(built).get(built.rootId)!.entries as FileEntry[];
    const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
    expect(byName.one).not.toHaveProperty('chunks');
    expect(byName.empty).not.toHaveProperty('chunks');
    expect(byName.multi!.chunks).toEqual([sha('c1'), sha('c2')]);
    expect(byName.odd!.chunks).toEqual([sha('c3')]);
    // fileChunks expands the shorthand back.
    expect(fileChunks(byName.one!)).toEqual([sha('content')]);
    expect(fileChunks(byName.empty!)).toEqual([]);
    expect(fileChunks(byName.multi!)).toEqual([sha('c1'), sha('c2')]);
  });

  it('accepts symlinks that stay inside and refuses ones that leave, as PATH_UNSAFE', () => {
    const ok = buildTree([
      file('data/a', 'a'),
      { path: 'data/link', type: 'symlink', target: '../data/a' },
      { path: 'top', type: 'symlink', target: 'data' },
    ]);
    expect(ok.symlinks).toBe(2);
    for (const [path, target] of [
      ['link', '../outside'],
      ['a/link', '../../x'],
      ['link', '/etc/passwd'],
      ['link', 'a/../../x'],
      ['link', ''],
    ]) {
      const err = caught(() => buildTree([{ path: path!, type: 'symlink', target: target! }]));
      expect(err.code, `${path} -> ${target}`).toBe('PATH_UNSAFE');
      expect(err.data).toEqual({ path, target });
    }
  });

  it('refuses unsafe paths', () => {
    for (const path of ['../x', '/abs', 'a//b', './a', 'a/./b', 'a/../b', '', 'a\0b']) {
      expect(caught(() => buildTree([file(path, 'x')])).code, JSON.stringify(path)).toBe('PATH_UNSAFE');
    }
  });

  it('refuses a duplicate path and a name that is both a file and a directory', () => {
    expect(caught(() => buildTree([file('a', '1'), file('a', '2')])).message).toBe('duplicate path a');
    expect(
      caught(() =>
        buildTree([
          { path: 'd', type: 'dir' },
          { path: 'd', type: 'dir' },
        ]),
      ).code,
    ).toBe('INVALID_INPUT');
    for (const list of [
      [file('a', '1'), file('a/b', '2')],
      [file('x/a/b', '2'), file('x/a', '1')],
      [{ path: 'a', type: 'symlink', target: 'b' } as FlatEntry, file('a/b', '2')],
      [file('a', '1'), { path: 'a', type: 'dir' } as FlatEntry],
    ]) {
      const err = caught(() => buildTree(list));
      expect(err.code).toBe('INVALID_INPUT');
    }
    expect(caught(() => buildTree([file('a', '1'), file('a/b', '2')])).message).toBe(
      'path a is both a file and a directory',
    );
  });

  it('encodeTree names a node by the SHA-256 of its canonical JSON', () => {
    const node: TreeNode = { v: 1, entries: [{ name: 'f', type: 'file', size: 1, mode: '644', digest: sha('x') }] };
    const { id, bytes } = encodeTree(node);
    expect(bytes.toString()).toBe(
      `{"entries":[{"digest":"${sha('x')}","mode":"644","name":"f","size":1,"type":"file"}],"v":1}`,
    );
    expect(id).toBe(sha(bytes.toString()));
  });
});
