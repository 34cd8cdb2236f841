import { CairnError } from '../core/errors.js';
import { BlobKind } from '../storage/pack/format.js';
import { rangedPackIndex, verifyBlob } from '../storage/pack/reader.js';
import { decodeTree } from '../storage/tree/node.js';
import { cachedLoader, type TreeLoader } from '../storage/tree/walk.js';
import {
  packListError,
  packListFault,
  type CoverSource,
  type PackListFault,
  readState,
  type RemoteBackend,
  type RemoteState,
} from '../transfer/index.js';

const packKey = (id: string) => `packs/${id.slice(0, 2)}/${id}.pack`;

/**
 * A pushed version's pack list must match its tree (docs/SERVER.md "Store state"): every object the
 * tree reaches in a listed pack of the store, and no listed pack holding none of them. The server
 * keeps no blob index of its store, so it reads each listed pack's index (a few hundred KiB for a
 * 32 MiB pack) and the tree nodes, in ranges; file chunks are only located. Versions the server
 * lists already keep the list it recorded. Throws PACK_LIST_MISMATCH, before anything is recorded.
 */
export async function checkPushedPackLists(
  backend: RemoteBackend,
  server: RemoteState,
  candidate: RemoteState,
  sizes: ReadonlyMap<string, number>,
): Promise<void> {
  const listed = new Set(server.versions.map((v) => v.id));
  // A version listed with no pack is a record without data (how an erased version travels):
  // pulls bring it as metadata only and refuse it by name, so it can only mislead about itself.
  const fresh = candidate.versions.filter((v) => !listed.has(v.id) && v.packs.length > 0);
  if (!fresh.length) return;
  const range = (packId: string) => packRange(backend, packId, sizes.get(packId));
  const indexes = new Map<string, ReturnType<typeof rangedPackIndex>>();
  const src: CoverSource = {
    held: async () => new Map(),
    entries: (id) => {
      let got = indexes.get(id);
      if (!got) {
        const size = sizes.get(id);
        if (size === undefined)
          throw new CairnError('MISSING_OBJECT', `${packKey(id)} is not in the store`, { data: { key: packKey(id) } });
        got = rangedPackIndex(range(id), size, id);
        indexes.set(id, got);
      }
      return got;
    },
    read: async (loc) => {
      const buf = await range(loc.packId)(loc.offset, loc.length);
      verifyBlob(buf, loc);
      return buf;
    },
  };
  const names = new Map(candidate.datasets.map((d) => [d.id, d.name]));
  const faults: PackListFault[] = [];
  for (const v of fresh) {
    const version = `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`;
    const fault = await packListFault({ version, digest: v.digest, packs: v.packs }, src);
    if (fault) faults.push(fault);
  }
  if (faults.length) throw packListError(faults, 'the push');
}

/**
 * Reads a pushed version's tree nodes from the store (docs/SERVER.md "Data plane"): the listed
 * packs' indexes and then each node, in ranges, re-hashed. So `data show` on the server lists a
 * version that came as metadata only, without pulling its data into the server's workspace.
 */
export function storeTreeLoader(
  backend: RemoteBackend,
  v: { digest: string; packs: readonly string[] },
  sizes: ReadonlyMap<string, number>,
): TreeLoader {
  const range = (packId: string) => packRange(backend, packId, sizes.get(packId));
  let where: Promise<Map<string, { packId: string; offset: number; length: number; kind: number }>> | null = null;
  const locate = async () => {
    const out = new Map<string, { packId: string; offset: number; length: number; kind: number }>();
    for (const packId of v.packs) {
      const size = sizes.get(packId);
      if (size === undefined) continue;
      for (const e of await rangedPackIndex(range(packId), size, packId))
        if (e.kind === BlobKind.tree && !out.has(e.id))
          out.set(e.id, { packId, offset: e.offset, length: e.length, kind: e.kind });
    }
    return out;
  };
  return cachedLoader(async (id) => {
    const loc = (await (where ??= locate())).get(id);
    if (!loc)
      throw new CairnError('MISSING_OBJECT', `tree ${id} of sha256:${v.digest} is in none of its packs in the store`, {
        data: { tree: id },
      });
    const buf = await range(loc.packId)(loc.offset, loc.length);
    verifyBlob(buf, { id, ...loc });
    return decodeTree(buf, id);
  });
}

/** The tree loader of a version the store lists (by root digest) with packs, or null. */
export async function storeTrees(backend: RemoteBackend, digest: string): Promise<TreeLoader | null> {
  const state = await readState(backend);
  const v = state?.versions.find((x) => x.digest === digest && x.packs.length > 0);
  return state && v ? storeTreeLoader(backend, v, new Map(state.packs.map((p) => [p.id, p.size]))) : null;
}

/**
 * Part of a pack in the store; a store without ranged reads is read whole, and no larger than the
 * size the store listed for the pack (an unbounded read of a hostile or broken store otherwise).
 */
function packRange(backend: RemoteBackend, packId: string, size: number | undefined) {
  const key = packKey(packId);
  return async (offset: number, length: number): Promise<Buffer> =>
    backend.getRange
      ? backend.getRange(key, offset, length)
      : (await backend.get(key, size === undefined ? {} : { maxBytes: size })).subarray(offset, offset + length);
}
