import type { BlobRow } from '../../meta/repos/chunks.js';

export interface GcPlan {
  /** Packs with no live blob: delete rows and files. */
  deletePacks: Array<{ id: string; size: number }>;
  /** Packs mostly dead: copy their live blobs into new packs, then delete. */
  repackPacks: Array<{ id: string; size: number; live: BlobRow[] }>;
  /** Index rows for unreachable blobs in packs that stay. */
  dropBlobs: string[];
  /** Files on disk that no metadata knows (crashed writes). */
  orphanPacks: Array<{ id: string; size: number }>;
  bytesFreed: number;
  bytesCopied: number;
}

/**
 * Pure: given what is reachable, decide what goes. A pack is rewritten only when less than
 * `repackBelow` of its blob bytes are live, so gc does not churn big packs to save a little.
 * The share is judged on blob data alone: a small pack's header, index and footer can
 * outweigh its data, and counting them made a pack with nothing dead look "mostly garbage".
 * A pack with no dead blob is never rewritten: the copy would be the same pack, id and all.
 */
export function planGc(input: {
  packs: Array<{ id: string; size: number }>;
  blobs: BlobRow[];
  reachable: ReadonlySet<string>;
  onDisk: ReadonlyMap<string, number>;
  repackBelow?: number;
  /**
   * Rewrite every pack that holds an unreachable blob, however little of it is dead: an erasure
   * needs the bytes off the disk, and dropping the index row alone leaves them in the pack file.
   */
  purge?: boolean;
  /**
   * Pack files whose own index cannot be read (corrupt): nobody can tell what they hold, so they
   * are neither deleted nor rewritten, rows and file (fsck names them).
   */
  unreadable?: ReadonlySet<string>;
}): GcPlan {
  const repackBelow = input.repackBelow ?? 0.5;
  const byPack = new Map<string, BlobRow[]>();
  for (const b of input.blobs) {
    const l = byPack.get(b.pack_id);
    if (l) l.push(b);
    else byPack.set(b.pack_id, [b]);
  }
  const plan: GcPlan = {
    deletePacks: [],
    repackPacks: [],
    dropBlobs: [],
    orphanPacks: [],
    bytesFreed: 0,
    bytesCopied: 0,
  };
  const known = new Set(input.packs.map((p) => p.id));
  const spared = input.unreadable ?? new Set<string>();
  for (const p of input.packs) {
    if (spared.has(p.id)) continue;
    const rows = byPack.get(p.id) ?? [];
    const live = rows.filter((r) => input.reachable.has(r.id));
    const dead = rows.filter((r) => !input.reachable.has(r.id));
    const liveBytes = live.reduce((n, r) => n + Number(r.length), 0);
    const deadBytes = dead.reduce((n, r) => n + Number(r.length), 0);
    if (live.length === 0) {
      plan.deletePacks.push({ id: p.id, size: p.size });
      plan.bytesFreed += p.size;
    } else if (dead.length === 0) {
      continue;
    } else if (input.purge === true || liveBytes < (liveBytes + deadBytes) * repackBelow) {
      plan.repackPacks.push({ id: p.id, size: p.size, live });
      plan.bytesFreed += p.size - liveBytes;
      plan.bytesCopied += liveBytes;
    } else {
      plan.dropBlobs.push(...dead.map((r) => r.id));
    }
  }
  for (const [id, size] of input.onDisk) {
    if (!known.has(id) && !spared.has(id)) {
      plan.orphanPacks.push({ id, size });
      plan.bytesFreed += size;
    }
  }
  return plan;
}
