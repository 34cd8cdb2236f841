import type { LocalPackDir } from '../objects/local-packs.js';
import type { BlobIndex } from '../blob-index.js';
import { discardSealed } from '../objects/discard.js';
import { fsyncDir } from '../objects/durable.js';
import { type BlobKindCode } from '../pack/format.js';
import { type FinishedPack, PackWriter } from '../pack/writer.js';
import { dirname } from 'node:path';

/** Pack target size: "tens of MiB" — few objects on a remote, still cheap to resend one. */
export const DEFAULT_PACK_TARGET = 32 * 1024 * 1024;

/**
 * Spreads appended blobs over packs of about `target` bytes. A full pack is sealed (fsync +
 * rename) in the background while the next one fills, so flushing overlaps hashing.
 */
export class PackRoller {
  readonly #dir: LocalPackDir;
  readonly #target: number;
  #current: PackWriter | null = null;
  #opening: Promise<void> | null = null;
  readonly #sealing: Array<Promise<FinishedPack>> = [];
  /** Writers being sealed: their buffered writes may still reference callers' memory. */
  readonly #closing = new Set<PackWriter>();
  readonly #done: FinishedPack[] = [];
  bytesAppended = 0;

  constructor(dir: LocalPackDir, target: number = DEFAULT_PACK_TARGET) {
    this.#dir = dir;
    this.#target = target;
  }

  /**
   * Several producers append concurrently. The only await is while a new pack file opens;
   * from picking the writer to appending is synchronous, so no blob can land in a pack that
   * another producer has just started sealing.
   */
  async append(kind: BlobKindCode, id: string, data: Uint8Array): Promise<void> {
    while (!this.#current) {
      this.#opening ??= PackWriter.create(this.#dir).then((w) => {
        this.#current = w;
        this.#opening = null;
      });
      await this.#opening;
    }
    const w = this.#current;
    w.append(kind, id, data);
    this.bytesAppended += data.length;
    if (w.size >= this.#target) {
      this.#current = null;
      this.#closing.add(w);
      const sealing = w.finish();
      sealing
        .then(
          (p) => this.#done.push(p),
          () => {},
        )
        .finally(() => this.#closing.delete(w));
      this.#sealing.push(sealing);
    }
  }

  /** Backpressure: wait until appended buffers reached the kernel. */
  async drain(): Promise<void> {
    await this.#current?.drain();
  }

  /**
   * Resolves once every byte appended so far has been handed to the kernel (copied into the
   * page cache), so the caller may reuse the memory it appended. Does not wait for fsync.
   */
  async written(): Promise<void> {
    await Promise.all([this.#current?.drain(), ...[...this.#closing].map((w) => w.drain())]);
  }

  /** Waits only when much is still in flight, so writing overlaps with hashing. */
  async drainIfBusy(limit = 64 * 1024 * 1024): Promise<void> {
    if (this.#current && this.#current.unwrittenBytes > limit) await this.#current.drain();
  }

  /** Seals the open pack, waits for all, and makes their directory entries durable. */
  async finish(): Promise<FinishedPack[]> {
    if (this.#current && this.#current.count > 0) {
      this.#sealing.push(this.#current.finish());
    } else if (this.#current) {
      await this.#current.abort();
    }
    this.#current = null;
    const packs = await Promise.all(this.#sealing);
    const dirs = new Set(packs.map((p) => dirname(p.path)));
    await Promise.all([...dirs].map((d) => fsyncDir(d)));
    if (dirs.size > 0) await fsyncDir(this.#dir.packsDir);
    return packs;
  }

  /**
   * Stops after a failure before commit: the open pack's temporary file is removed, sealing
   * packs are waited for, and the sealed ones are removed only where that is certainly safe
   * (objects/discard.ts: a pack is named by its content, so the same name may hold another
   * writer's live data). Without `index`, or when not safe, they stay as orphans for the next
   * add or gc.
   */
  async discard(index?: BlobIndex, opts: { exclusive?: boolean } = {}): Promise<void> {
    await this.#current?.abort();
    this.#current = null;
    const settled = await Promise.allSettled(this.#sealing);
    const sealed = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (index) await discardSealed(sealed, { packs: this.#dir, index }, opts).catch(() => {});
  }
}
