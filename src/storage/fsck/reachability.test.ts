import { describe, expect, it } from 'vitest';
import { encodeTree, decodeTree, type TreeEntry, type TreeNode } from '../tree/node.js';
import type { TreeLoader } from '../tree/walk.js';
import { damageFinder, MAX_LISTED } from './reachability.js';

const BAD = 'ba'.repeat(32);

describe('damageFinder', () => {
  it('lists at most MAX_LISTED damaged paths of a tree bomb and counts the rest (fsck stays small)', async () => {
    const nodes = new Map<string, Buffer>();
    let entries: TreeEntry[] = Array.from({ length: 32 }, (_, i) => ({
      name: `f${String(i).padStart(2, '0')}`,
      type: 'file',
      size: 1,
      mode: '644',
      digest: BAD,
    }));
    let files = 32;
    let top = encodeTree({ v: 1, entries });
    nodes.set(top.id, top.bytes);
    for (let l = 0; l < 5; l++) {
      entries = Array.from({ length: 32 }, (_, i) => ({
        name: `d${String(i).padStart(2, '0')}`,
        type: 'dir',
        tree: top.id,
        files,
        size: files,
      }));
      files *= 32;
      top = encodeTree({ v: 1, entries });
      nodes.set(top.id, top.bytes);
    }
    const load: TreeLoader = async (id) => decodeTree(nodes.get(id)!, id) as TreeNode;
    const reach = new Set<string>();
    const d = await damageFinder(load, (id) => id === BAD, reach)(top.id);
    expect(d.files).toHaveLength(MAX_LISTED);
    expect(d.files[0]).toBe('d00/d00/d00/d00/d00/f00');
    expect(d.files.length + d.more).toBe(32 ** 6);
    expect(reach.size).toBe(7);
  });
});
