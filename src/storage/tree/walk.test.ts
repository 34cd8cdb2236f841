import { describe, expect, it } from 'vitest';
import { buildTree, type FlatEntry } from './build.js';
import { listFlat } from './list.js';
import { decodeTree } from './node.js';
import { cachedLoader, listTree, type TreeLoader } from './walk.js';
import { sha256Hex as sha } from '../../core/digest.js';

const file = (path: string, content: string): FlatEntry => ({
  path,
  type: 'file',
  size: content.length,
  mode: '644',
  digest: sha(content),
  chunks: [sha(content)],
});

function loaderFor(flat: FlatEntry[]): { rootId: string; load: TreeLoader; loads: string[] } {
  const built = buildTree(flat);
  const nodes = new Map(built.nodes.map((n) => [n.id, n.bytes]));
  const loads: string[] = [];
  return {
    rootId: built.rootId,
    loads,
    load: async (id) => {
      loads.push(id);
      const b = nodes.get(id);
      if (!b) throw new Error(`no node ${id}`);
      return decodeTree(b, id);
    },
  };
}

const sample: FlatEntry[] = [
  file('b/x', 'x'),
  file('a', 'a'),
  { path: 'b/l', type: 'symlink', target: 'x' },
  { path: 'b/empty', type: 'dir' },
  file('b/c/y', 'y'),
  file('z', 'z'),
];

describe('tree walking', () => {
  it('listTree yields depth-first in name order, each directory before its contents', async () => {
    const { rootId, load } = loaderFor(sample);
    expect((await listTree(rootId, load)).map((e) => `${e.type} ${e.path}`)).toEqual([
      'file a',
      'dir b',
      'dir b/c',
      'file b/c/y',
      'dir b/empty',
      'symlink b/l',
      'file b/x',
      'file z',
    ]);
  });

  it('listFlat groups a directory’s own files before its subdirectories’ files', async () => {
    const { rootId, load } = loaderFor(sample);
    const flat = await listFlat(rootId, load);
    expect(flat.files.map((f) => f.path)).toEqual(['a', 'z', 'b/x', 'b/c/y']);
    expect(flat.files[0]!.entry).toEqual({ name: 'a', type: 'file', size: 1, mode: '644', digest: sha('a') });
    expect(flat.symlinks).toEqual([{ path: 'b/l', target: 'x' }]);
    expect(flat.dirs).toEqual(['b', 'b/c', 'b/empty']);
  });

  it('cachedLoader reads each node once, and forgets failures so they can be retried', async () => {
    const { rootId, load, loads } = loaderFor([file('d/a', '1'), file('e/a', '1')]);
    const cached = cachedLoader(load);
    await listTree(rootId, cached);
    await listTree(rootId, cached);
    // d and e are the same node: root + one shared child, each loaded once.
    expect(loads).toHaveLength(2);
    let fail = true;
    const flaky = cachedLoader(async (id) => {
      if (fail) throw new Error('transient');
      return load(id);
    });
    await expect(flaky(rootId)).rejects.toThrow('transient');
    fail = false;
    expect((await flaky(rootId)).entries).toHaveLength(2);
  });
});
