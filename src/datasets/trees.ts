import { CairnError } from '../core/errors.js';
import { BlobKind } from '../storage/pack/format.js';
import { decodeTree } from '../storage/tree/node.js';
import { cachedLoader, type TreeLoader } from '../storage/tree/walk.js';
import type { DatasetDeps } from './deps.js';

/**
 * Loads and checks tree nodes. Cached by default; `cache: false` for walks that visit each node
 * once or twice and must not hold every decoded node of a large version (issue 16).
 */
export function treeLoader(deps: Pick<DatasetDeps, 'index' | 'reader'>, opts: { cache?: boolean } = {}): TreeLoader {
  const load: TreeLoader = async (id) => {
    const loc = (await deps.index.locate([id])).get(id);
    if (!loc) {
      throw new CairnError('MISSING_OBJECT', `tree ${id} is not in the object store`, {
        data: { tree: id },
        hint: 'run `cairn fsck`; if the version came from a remote, `cairn pull` it again',
      });
    }
    if (loc.kind !== BlobKind.tree)
      throw new CairnError('CORRUPT_OBJECT', `blob ${id} is not a tree`, { data: { blob: id } });
    return decodeTree(await deps.reader.read(loc), id);
  };
  return opts.cache === false ? load : cachedLoader(load);
}
