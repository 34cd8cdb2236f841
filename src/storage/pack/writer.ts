import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { ioError } from '../../core/errors.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { type BlobKindCode, type PackEntry, encodeFooter, encodeHeader, encodeIndex, HEADER_SIZE } from './format.js';

/** Bytes gathered before one writev; big enough to amortize syscalls, small enough to bound memory. */
const WRITE_BATCH = 8 * 1024 * 1024;

export interface FinishedPack {
  id: string;
  size: number;
  entries: PackEntry[];
  path: string;
}

/**
 * Appends blobs to a temporary pack and, on finish, seals it: index + footer, fsync, rename to
 * its content-derived name. Blob buffers are written with writev without copying, so callers
 * must not reuse a buffer they appended until `drain()` or `finish()` resolves.
 */
export class PackWriter {
  readonly #dir: LocalPackDir;
  readonly #fh: fsp.FileHandle;
  readonly #tmpPath: string;
  readonly #entries: PackEntry[] = [];
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writePos = HEADER_SIZE;
  #size = HEADER_SIZE;
  #inflight: Promise<void> = Promise.resolve();
  #confirmed = 0;
  #sealed = false;
  #failed: unknown = null;

  private constructor(dir: LocalPackDir, fh: fsp.FileHandle, tmpPath: string) {
    this.#dir = dir;
    this.#fh = fh;
    this.#tmpPath = tmpPath;
    this.#pending.push(encodeHeader());
    this.#pendingBytes = 0;
    this.#writePos = 0;
  }

  static async create(dir: LocalPackDir): Promise<PackWriter> {
    const tmp = dir.newTempPath();
    try {
      await fsp.mkdir(dirname(tmp), { recursive: true });
      const fh = await fsp.open(tmp, 'wx', 0o444);
      return new PackWriter(dir, fh, tmp);
    } catch (err) {
      throw ioError(err, 'create pack', tmp);
    }
  }

  /** Bytes the sealed pack would have so far, without index and footer. */
  get size(): number {
    return this.#size;
  }

  /** Appended bytes not yet confirmed written by the kernel. */
  get unwrittenBytes(): number {
    return this.#size - this.#confirmed;
  }

  get count(): number {
    return this.#entries.length;
  }

  append(kind: BlobKindCode, id: string, data: Uint8Array): PackEntry {
    const entry: PackEntry = { id, offset: this.#size, length: data.length, kind };
    this.#entries.push(entry);
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    this.#size += data.length;
    if (this.#pendingBytes >= WRITE_BATCH) this.#flush();
    return entry;
  }

  /** Resolves once everything appended so far is handed to the kernel; use for backpressure. */
  async drain(): Promise<void> {
    if (!this.#sealed) this.#flush();
    await this.#inflight;
    if (this.#failed) throw this.#failed;
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const bufs = this.#pending;
    const pos = this.#writePos;
    const len = bufs.reduce((n, b) => n + b.length, 0);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writePos = pos + len;
    // Writes target disjoint, explicit offsets, so they may overlap in flight.
    const write = writevAll(this.#fh, bufs, pos).then(
      () => {
        this.#confirmed = Math.max(this.#confirmed, pos + len);
      },
      (err) => {
        this.#failed ??= ioError(err, 'write pack', this.#tmpPath);
      },
    );
    this.#inflight = Promise.all([this.#inflight, write]).then(() => undefined);
  }

  async finish(): Promise<FinishedPack> {
    this.#sealed = true;
    const indexOffset = this.#size;
    const index = encodeIndex(this.#entries);
    const { footer, packId } = encodeFooter(indexOffset, index);
    this.#pending.push(index, footer);
    this.#size += index.length + footer.length;
    this.#flush();
    await this.drain();
    const finalPath = this.#dir.packPath(packId);
    try {
      await this.#fh.sync();
      await this.#fh.close();
      await fsp.mkdir(dirname(finalPath), { recursive: true });
      await fsp.rename(this.#tmpPath, finalPath);
    } catch (err) {
      await this.abort();
      throw ioError(err, 'seal pack', finalPath);
    }
    return { id: packId, size: this.#size, entries: this.#entries, path: finalPath };
  }

  async abort(): Promise<void> {
    await this.#inflight.catch(() => {});
    await this.#fh.close().catch(() => {});
    await fsp.rm(this.#tmpPath, { force: true }).catch(() => {});
  }
}

async function writevAll(fh: fsp.FileHandle, bufs: Uint8Array[], position: number): Promise<void> {
  // writev may write less than asked (and IOV_MAX caps the count), so loop until done.
  let i = 0;
  let pos = position;
  while (i < bufs.length) {
    const batch = bufs.slice(i, i + 512);
    const want = batch.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await fh.writev(batch, pos);
    pos += bytesWritten;
    if (bytesWritten === want) {
      i += batch.length;
      continue;
    }
    let left = bytesWritten;
    while (left > 0 && i < bufs.length) {
      const b = bufs[i]!;
      if (left >= b.length) {
        left -= b.length;
        i++;
      } else {
        bufs[i] = b.subarray(left);
        left = 0;
      }
    }
  }
}
