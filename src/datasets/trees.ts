import { CairnError } from '../core/errors.js';
import { BlobKind } from '../storage/pack/format.js';
import { decodeTree } from '../storage/tree/node.js';
import { cachedLoader, type TreeLoader } from '../storage/tree/walk.js';
import type { DatasetDeps } from './deps.js';

export function treeLoader(deps: Pick<DatasetDeps, 'index' | 'reader'>): TreeLoader {
  return cachedLoader(async (id) => {
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
  });
}
