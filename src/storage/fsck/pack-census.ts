import { CairnError } from '../../core/errors.js';
import type { BlobRow } from '../../meta/repos/chunks.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { BlobKind, type PackEntry } from '../pack/format.js';
import { readPackIndex, type BlobLocation } from '../pack/reader.js';
import { decodeTree } from '../tree/node.js';
import type { TreeLoader } from '../tree/walk.js';

/**
 * What the pack files on disk hold, from each pack's own index (named by its digest, so it
 * cannot be edited without renaming the pack). gc and fsck read it so that a forged, lost or
 * edited row of the `blobs` index can never make a live blob look like garbage.
 */
export interface PackCensus {
  /** Every pack file whose own index reads, by id: its entries by blob id. */
  packs: Map<string, Map<string, PackEntry>>;
  /** Pack files whose index cannot be read (corrupt): nobody can tell what they hold. */
  unreadable: Map<string, string>;
  /** Index bytes read (48 a blob, plus 88 a pack). */
  indexBytes: number;
}

/** Reads the index (never the blobs) of every pack in `onDisk`. */
export async function readCensus(dir: LocalPackDir, onDisk: ReadonlyMap<string, number>): Promise<PackCensus> {
  const census: PackCensus = { packs: new Map(), unreadable: new Map(), indexBytes: 0 };
  for (const id of [...onDisk.keys()].sort()) {
    try {
      const { entries } = await readPackIndex(dir.packPath(id), id);
      census.packs.set(id, new Map(entries.map((e) => [e.id, e])));
      census.indexBytes += 16 + 48 * entries.length + 72;
    } catch (err) {
      if (!(err instanceof CairnError)) throw err;
      // Gone since the listing (nothing to protect), or corrupt: kept and reported, never read.
      if (err.code !== 'MISSING_OBJECT') census.unreadable.set(id, err.message);
    }
  }
  return census;
}

/**
 * Where a blob is, the index checked against the packs: `ok` (its row's pack holds it there, or
 * that pack cannot be read, so there is nothing better to say), `unindexed` (no row, but a pack on
 * disk holds it), `misplaced` (its row points where it is not; a pack on disk holds it), `absent`
 * (no bytes of it on disk: a metadata-only version's, or lost).
 */
export type BlobStatus =
  | { status: 'ok'; loc: BlobRow }
  | { status: 'unindexed' | 'misplaced'; loc: BlobRow; row?: BlobRow }
  | { status: 'absent'; row?: BlobRow };

export function blobLocator(rows: ReadonlyMap<string, BlobRow>, census: PackCensus): (id: string) => BlobStatus {
  let where: Map<string, string> | null = null;
  // Only damage needs the reverse map (blob → a pack holding it): built once, on the first miss.
  const found = (id: string): BlobRow | null => {
    if (!where) {
      where = new Map();
      for (const [pack, entries] of census.packs) for (const e of entries.keys()) if (!where.has(e)) where.set(e, pack);
    }
    const pack = where.get(id);
    const e = pack === undefined ? undefined : census.packs.get(pack)!.get(id)!;
    return e ? { id, pack_id: pack!, offset: e.offset, length: e.length, kind: e.kind } : null;
  };
  return (id) => {
    const row = rows.get(id);
    if (row) {
      const entries = census.packs.get(row.pack_id);
      const e = entries?.get(id);
      if (census.unreadable.has(row.pack_id)) return { status: 'ok', loc: row };
      if (e && e.offset === Number(row.offset) && e.length === Number(row.length)) return { status: 'ok', loc: row };
      const loc = found(id);
      return loc ? { status: 'misplaced', loc, row } : { status: 'absent', row };
    }
    const loc = found(id);
    return loc ? { status: 'unindexed', loc } : { status: 'absent' };
  };
}

/** Loads trees from where the packs say they are, whatever the index says (gc's and fsck's reachability). */
export function censusTreeLoader(
  locate: (id: string) => BlobStatus,
  read: (loc: BlobLocation) => Promise<Buffer>,
): TreeLoader {
  return async (id) => {
    const s = locate(id);
    if (s.status === 'absent')
      throw new CairnError('MISSING_OBJECT', `tree ${id} is not in the object store`, { data: { tree: id } });
    if (s.loc.kind !== BlobKind.tree)
      throw new CairnError('CORRUPT_OBJECT', `blob ${id} is not a tree`, { data: { blob: id } });
    const loc = { id, packId: s.loc.pack_id, offset: Number(s.loc.offset), length: Number(s.loc.length) };
    return decodeTree(await read(loc), id);
  };
}

/** A live blob whose bytes are on disk where the index does not place them. */
export interface IndexDamage {
  blob: string;
  problem: 'unindexed' | 'misplaced';
  /** The pack on disk that holds it (by its own index). */
  pack: string;
  /** Where its row points (misplaced only). */
  indexedIn?: string;
  /** The version whose root tree it is, when it is one. */
  rootOf?: string;
}

/** The damage among `ids` (reachable blobs), roots first, each blob once. */
export function indexDamage(
  ids: Iterable<string>,
  locate: (id: string) => BlobStatus,
  roots: ReadonlyArray<{ ref: string; root: string }>,
): IndexDamage[] {
  const refOf = new Map<string, string>();
  for (const r of roots) if (!refOf.has(r.root)) refOf.set(r.root, r.ref);
  const out: IndexDamage[] = [];
  for (const id of ids) {
    const s = locate(id);
    if (s.status !== 'unindexed' && s.status !== 'misplaced') continue;
    const rootOf = refOf.get(id);
    out.push({
      blob: id,
      problem: s.status,
      pack: s.loc.pack_id,
      ...(s.row ? { indexedIn: s.row.pack_id } : {}),
      ...(rootOf ? { rootOf } : {}),
    });
  }
  return out.sort(
    (a, b) => Number(b.rootOf !== undefined) - Number(a.rootOf !== undefined) || (a.blob < b.blob ? -1 : 1),
  );
}

/** One line for a person: "index row missing for the root of one@v1 (tree …), found in pack …". */
export function describeDamage(d: IndexDamage): string {
  const what = d.rootOf ? `the root of ${d.rootOf} (tree ${d.blob})` : `blob ${d.blob}`;
  return d.problem === 'unindexed'
    ? `index row missing for ${what}, found in pack ${d.pack}`
    : `index row for ${what} points at pack ${d.indexedIn}, but it is in pack ${d.pack}`;
}

/**
 * What `fsck --repair` writes, from the packs' own indexes: a pack no row records is recorded
 * whole (as `data add` adopts a crashed writer's packs); a missing row of a recorded pack is
 * restored; a row pointing where its blob is not is moved to where it is.
 */
export function repairPlan(
  damage: readonly IndexDamage[],
  census: PackCensus,
  known: ReadonlySet<string>,
  sizes: ReadonlyMap<string, number>,
): { record: Array<{ id: string; size: number; entries: PackEntry[] }>; restore: number; move: BlobRow[] } {
  const byPack = new Map<string, PackEntry[]>();
  const move: BlobRow[] = [];
  for (const d of damage) {
    const e = census.packs.get(d.pack)!.get(d.blob)!;
    if (d.problem === 'misplaced')
      move.push({ id: d.blob, pack_id: d.pack, offset: e.offset, length: e.length, kind: e.kind });
    else if (known.has(d.pack)) byPack.set(d.pack, [...(byPack.get(d.pack) ?? []), e]);
    else byPack.set(d.pack, [...census.packs.get(d.pack)!.values()]);
  }
  const record = [...byPack].map(([id, entries]) => ({ id, size: sizes.get(id) ?? 0, entries }));
  const restore = damage.filter((d) => d.problem === 'unindexed').length;
  return { record, restore, move };
}
