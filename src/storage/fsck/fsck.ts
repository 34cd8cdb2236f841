import type { BlobRow } from '../../meta/repos/chunks.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import type { BlobLocation } from '../pack/reader.js';
import type { WorkerPool } from '../workers/pool.js';
import type { PackCheckResult } from '../workers/protocol.js';
import {
  blobLocator,
  censusTreeLoader,
  indexDamage,
  readCensus,
  type IndexDamage,
  type PackCensus,
} from './pack-census.js';
import { damageFinder } from './reachability.js';

export interface FsckInput {
  packs: LocalPackDir;
  pool: WorkerPool;
  /** Packs and blobs the metadata says exist. */
  knownPacks: Array<{ id: string; size: number }>;
  blobs: BlobRow[];
  /** Versions to examine, by display ref. */
  versions: Array<{ ref: string; root: string }>;
  /** Reads (and re-hashes) one blob. */
  read: (loc: BlobLocation) => Promise<Buffer>;
  onProgress?: (bytes: number, total: number) => void;
}

export interface FsckReport {
  ok: boolean;
  packsChecked: number;
  bytesChecked: number;
  blobsChecked: number;
  missingPacks: string[];
  corruptPacks: Array<{ pack: string; reason: string }>;
  corruptBlobs: Array<{ blob: string; pack: string }>;
  /** Blobs the index places in a pack whose own index disagrees. */
  misplacedBlobs: Array<{ blob: string; pack: string }>;
  /** `more`: damaged files and unreadable directories beyond those listed (present when > 0). */
  brokenVersions: Array<{ ref: string; files: string[]; unreadableTrees: string[]; more?: number }>;
  /**
   * Live blobs whose bytes are in a pack on disk (by the pack's own index) where the `blobs` index
   * does not place them: no row, or a row pointing elsewhere. Damage: gc refuses until
   * `fsck --repair` restores the rows from the packs.
   */
  indexDamage: IndexDamage[];
  /** Pack files on disk whose own index cannot be read (gc leaves them alone). */
  unreadablePacks: Array<{ pack: string; reason: string }>;
  /** What `fsck --repair` changed in the index (present only with repair). */
  repaired?: { rowsRestored: number; rowsMoved: number; packsRecorded: number };
  /**
   * Not errors: versions whose root tree has no index row here and is in no pack here, so none
   * of their bytes were ever here (imported with `pull --metadata-only`, or pushed to a team
   * server that has not read them). A tree that is indexed but unreadable is damage
   * (brokenVersions), as in gc; one in a pack but not indexed is `indexDamage`.
   */
  remoteOnlyVersions: string[];
  /** Not errors: packs no metadata refers to (a crashed write, or gc not yet run). */
  orphanPacks: string[];
  tempFiles: number;
  /** Cache entries changed on disk since they were made (relative to the cache directory). */
  poisonedCaches: string[];
}

/** Re-hashes every pack the metadata knows (in parallel), then names the versions hit. */
export async function fsck(input: FsckInput): Promise<FsckReport & { census: PackCensus }> {
  const onDisk = await input.packs.list();
  const census = await readCensus(input.packs, onDisk);
  const known = new Set(input.knownPacks.map((p) => p.id));
  const report: FsckReport = {
    ok: true,
    packsChecked: 0,
    bytesChecked: 0,
    blobsChecked: 0,
    missingPacks: [],
    corruptPacks: [],
    corruptBlobs: [],
    misplacedBlobs: [],
    brokenVersions: [],
    indexDamage: [],
    // Recorded packs that do not read are corruptPacks (checked below); these are the others.
    unreadablePacks: [...census.unreadable]
      .filter(([pack]) => !known.has(pack))
      .map(([pack, reason]) => ({ pack, reason })),
    remoteOnlyVersions: [],
    orphanPacks: [...onDisk.keys()].filter((id) => !known.has(id)).sort(),
    tempFiles: (await input.packs.listTemp()).length,
    poisonedCaches: [],
  };
  const total = input.knownPacks.reduce((n, p) => n + p.size, 0);
  let done = 0;
  const bad = new Set<string>();
  const byPack = new Map<string, BlobRow[]>();
  for (const b of input.blobs) {
    const list = byPack.get(b.pack_id);
    if (list) list.push(b);
    else byPack.set(b.pack_id, [b]);
  }
  const onChecked = (size: number) => {
    done += size;
    input.onProgress?.(done, total);
  };
  await Promise.all(
    input.knownPacks.map((p) => checkPack(input, p, byPack.get(p.id) ?? [], onDisk, report, bad, onChecked)),
  );
  // Trees are read from where the packs' own indexes put them, so a lost row is reported as
  // such (with the pack that holds the bytes) and the rest of the version is still examined.
  const locate = blobLocator(new Map(input.blobs.map((b) => [b.id, b])), census);
  const isBad = (id: string) => bad.has(id) || locate(id).status === 'absent';
  const reach = new Set<string>();
  const visit = damageFinder(censusTreeLoader(locate, input.read), isBad, reach);
  for (const v of input.versions) {
    const s = locate(v.root);
    if (s.status === 'absent' && !s.row) {
      report.remoteOnlyVersions.push(v.ref);
      continue;
    }
    const d = await visit(v.root);
    if (d.files.length || d.unreadable.length)
      report.brokenVersions.push({
        ref: v.ref,
        files: d.files,
        unreadableTrees: d.unreadable,
        ...(d.more ? { more: d.more } : {}),
      });
  }
  report.indexDamage = indexDamage(reach, locate, input.versions);
  report.missingPacks.sort();
  report.corruptPacks.sort((a, b) => a.pack.localeCompare(b.pack));
  report.ok =
    report.missingPacks.length +
      report.corruptPacks.length +
      report.corruptBlobs.length +
      report.misplacedBlobs.length +
      report.brokenVersions.length +
      report.indexDamage.length +
      report.unreadablePacks.length ===
    0;
  return { ...report, census };
}

/** Re-hashes one pack in a worker and records what is missing, corrupt or misplaced in it. */
async function checkPack(
  input: FsckInput,
  p: FsckInput['knownPacks'][number],
  rows: readonly BlobRow[],
  onDisk: ReadonlyMap<string, unknown>,
  report: FsckReport,
  bad: Set<string>,
  onChecked: (size: number) => void,
): Promise<void> {
  if (!onDisk.has(p.id)) {
    report.missingPacks.push(p.id);
    for (const r of rows) bad.add(r.id);
    return;
  }
  const reply = (await input.pool.run({ type: 'check-pack', path: input.packs.packPath(p.id), packId: p.id })) as {
    result: PackCheckResult;
  };
  const res = reply.result;
  report.packsChecked++;
  report.bytesChecked += res.bytes;
  onChecked(p.size);
  if (!res.ok) {
    report.corruptPacks.push({ pack: p.id, reason: res.error ?? 'unreadable' });
    for (const r of rows) bad.add(r.id);
    return;
  }
  report.blobsChecked += res.entries.length;
  const badHere = new Set(res.badBlobs);
  const inPack = new Map(res.entries.map((e) => [e.id, e]));
  for (const r of rows) {
    const e = inPack.get(r.id);
    if (!e || e.offset !== Number(r.offset) || e.length !== Number(r.length)) {
      report.misplacedBlobs.push({ blob: r.id, pack: p.id });
      bad.add(r.id);
    } else if (badHere.has(r.id)) {
      report.corruptBlobs.push({ blob: r.id, pack: p.id });
      bad.add(r.id);
    }
  }
}
