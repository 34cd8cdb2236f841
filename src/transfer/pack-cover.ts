import { CairnError } from '../core/errors.js';
import { BlobKind } from '../storage/pack/format.js';
import type { BlobLocation } from '../storage/pack/reader.js';
import { decodeTree, fileChunks } from '../storage/tree/node.js';

/** A blob and where it lies (kind: BlobKind). */
export type Located = BlobLocation & { kind: number };

/** One entry of a pack's index. */
export interface ListedBlob {
  id: string;
  offset: number;
  length: number;
  kind: number;
}

/**
 * Where a receiver looks for a version's blobs: what it holds already (a workspace's committed
 * store; nothing for a team server, whose store keeps no blob index) and the packs a version lists.
 */
export interface CoverSource {
  /** Of `ids`, those held already, with their location. */
  held(ids: readonly string[]): Promise<Map<string, Located>>;
  /**
   * The index of a listed pack, read from the pack itself; null for a pack not inspected (one
   * held already: nothing is fetched for it, so listing it costs nothing and proves nothing).
   */
  entries(packId: string): Promise<readonly ListedBlob[] | null>;
  /** A blob's bytes, checked against its digest. */
  read(loc: Located): Promise<Buffer>;
}

/** What is wrong with one version's pack list. */
export interface PackListFault {
  /** `name@vN`. */
  version: string;
  digest: string;
  /** Blobs its tree reaches that are neither held nor in a listed pack (the first 20), and how many. */
  missing: string[];
  missingCount: number;
  /** Listed packs (inspected ones) that hold none of the blobs its tree reaches. */
  extra: string[];
}

const BATCH = 500;

/**
 * Walks a version's tree through what is held and what its listed packs hold, and says what its
 * pack list lacks or names in vain (null: the list covers the tree exactly). Tree nodes are read
 * (and re-hashed) from wherever they lie; file chunks are only located.
 */
export async function packListFault(
  v: { version: string; digest: string; packs: readonly string[] },
  src: CoverSource,
): Promise<PackListFault | null> {
  const listed = new Map<string, Located>();
  const packsOf = new Map<string, string[]>();
  const inspected: string[] = [];
  for (const packId of new Set(v.packs)) {
    const entries = await src.entries(packId);
    if (!entries) continue;
    inspected.push(packId);
    for (const e of entries) {
      if (!listed.has(e.id)) listed.set(e.id, { id: e.id, packId, offset: e.offset, length: e.length, kind: e.kind });
      packsOf.set(e.id, [...(packsOf.get(e.id) ?? []), packId]);
    }
  }
  const used = new Set<string>();
  const missing: string[] = [];
  // In a listed pack first (no lookup), else among what is held.
  const locate = async (ids: readonly string[]) => {
    const out = new Map<string, Located>();
    const rest: string[] = [];
    for (const id of ids) {
      for (const p of packsOf.get(id) ?? []) used.add(p);
      const loc = listed.get(id);
      if (loc) out.set(id, loc);
      else rest.push(id);
    }
    for (let i = 0; i < rest.length; i += BATCH) {
      const part = rest.slice(i, i + BATCH);
      const held = await src.held(part);
      for (const id of part) {
        const loc = held.get(id);
        if (loc) out.set(id, loc);
        else missing.push(id);
      }
    }
    return out;
  };
  const seen = new Set<string>([v.digest]);
  const chunks: string[] = [];
  for (let frontier = [v.digest]; frontier.length;) {
    const locs = await locate(frontier);
    const next: string[] = [];
    for (const [id, loc] of locs) {
      if (loc.kind !== BlobKind.tree)
        throw new CairnError('CORRUPT_OBJECT', `blob ${id} of ${v.version} is not a tree`, { data: { blob: id } });
      for (const e of decodeTree(await src.read(loc), id).entries) {
        const more = e.type === 'file' ? fileChunks(e) : e.type === 'dir' ? [e.tree] : [];
        for (const c of more) {
          if (seen.has(c)) continue;
          seen.add(c);
          (e.type === 'dir' ? next : chunks).push(c);
        }
      }
    }
    frontier = next;
  }
  await locate(chunks);
  const extra = inspected.filter((p) => !used.has(p));
  if (!missing.length && !extra.length) return null;
  return {
    version: v.version,
    digest: `sha256:${v.digest}`,
    missing: missing.slice(0, 20),
    missingCount: missing.length,
    extra,
  };
}

/** The refusal of versions whose pack lists do not match their trees: nothing of them is recorded. */
export function packListError(faults: readonly PackListFault[], where: string): CairnError {
  const say = (f: PackListFault) =>
    `${f.version} (${f.digest})${f.missingCount ? `: ${f.missingCount} object(s) of its tree are in none of its listed packs` : ''}${f.extra.length ? `${f.missingCount ? ';' : ':'} it lists ${f.extra.length} pack(s) holding none of its objects` : ''}`;
  return new CairnError(
    'PACK_LIST_MISMATCH',
    `${where} lists packs that do not match the version's tree; nothing was recorded:\n  ${faults.map(say).join('\n  ')}`,
    {
      data: { versions: faults },
      hint: 'the pack list was edited or is stale: push the version again from a workspace that holds it whole',
    },
  );
}
