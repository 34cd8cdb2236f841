import type { BlobRow } from '../../meta/repos/chunks.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import type { TreeLoader } from '../tree/walk.js';
import type { WorkerPool } from '../workers/pool.js';
import type { PackCheckResult } from '../workers/protocol.js';
import { damageFinder } from './reachability.js';

export interface FsckInput {
  packs: LocalPackDir;
  pool: WorkerPool;
  /** Packs and blobs the metadata says exist. */
  knownPacks: Array<{ id: string; size: number }>;
  blobs: BlobRow[];
  /** Versions to examine, by display ref. */
  versions: Array<{ ref: string; root: string }>;
  load: TreeLoader;
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
   * Not errors: versions whose root tree has no index row here, so none of their bytes were ever
   * here (imported with `pull --metadata-only`, or pushed to a team server that has not read
   * them). A tree that is indexed but unreadable is damage (brokenVersions), as in gc.
   */
  remoteOnlyVersions: string[];
  /** Not errors: packs no metadata refers to (a crashed write, or gc not yet run). */
  orphanPacks: string[];
  tempFiles: number;
  /** Cache entries changed on disk since they were made (relative to the cache directory). */
  poisonedCaches: string[];
}

/** Re-hashes every pack the metadata knows (in parallel), then names the versions hit. */
export async function fsck(input: FsckInput): Promise<FsckReport> {
  const onDisk = await input.packs.list();
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
  const indexed = new Set(input.blobs.map((b) => b.id));
  const isBad = (id: string) => bad.has(id) || !indexed.has(id);
  const visit = damageFinder(input.load, isBad);
  for (const v of input.versions) {
    if (!indexed.has(v.root)) {
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
  report.missingPacks.sort();
  report.corruptPacks.sort((a, b) => a.pack.localeCompare(b.pack));
  report.ok =
    report.missingPacks.length +
      report.corruptPacks.length +
      report.corruptBlobs.length +
      report.misplacedBlobs.length +
      report.brokenVersions.length ===
    0;
  return report;
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
