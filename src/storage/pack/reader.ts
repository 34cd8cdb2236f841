import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { CairnError, ioError } from '../../core/errors.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { checkHeader, decodeIndex, FOOTER_SIZE, HEADER_SIZE, type PackEntry, parseFooter } from './format.js';

export interface BlobLocation {
  id: string;
  packId: string;
  offset: number;
  length: number;
}

/**
 * Reads blobs back out of local packs. Every blob is re-hashed on the way out: a mismatch is
 * a CORRUPT_OBJECT error that names the blob and the pack, never silently wrong bytes.
 */
export class PackReader {
  readonly #dir: LocalPackDir;
  readonly #handles = new Map<string, Promise<fsp.FileHandle>>();

  constructor(dir: LocalPackDir) {
    this.#dir = dir;
  }

  #open(packId: string): Promise<fsp.FileHandle> {
    let h = this.#handles.get(packId);
    if (!h) {
      const path = this.#dir.packPath(packId);
      h = fsp.open(path, 'r').catch((err) => {
        this.#handles.delete(packId);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new CairnError('MISSING_OBJECT', `pack ${packId} is missing from the object store`, {
            data: { pack: packId },
          });
        }
        throw ioError(err, 'open pack', path);
      });
      this.#handles.set(packId, h);
    }
    return h;
  }

  async read(loc: BlobLocation): Promise<Buffer> {
    const fh = await this.#open(loc.packId);
    const buf = Buffer.allocUnsafe(loc.length);
    const { bytesRead } = await fh.read(buf, 0, loc.length, loc.offset);
    if (bytesRead !== loc.length) {
      throw new CairnError('CORRUPT_OBJECT', `blob ${loc.id} is truncated in pack ${loc.packId}`, {
        data: { blob: loc.id, pack: loc.packId },
      });
    }
    verifyBlob(buf, loc);
    return buf;
  }

  async close(): Promise<void> {
    const hs = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(hs.map((h) => h.then((fh) => fh.close()).catch(() => {})));
  }
}

export function verifyBlob(buf: Uint8Array, loc: BlobLocation): void {
  checkBlobDigest(createHash('sha256').update(buf).digest('hex'), loc);
}

/** `verifyBlob` for a digest computed elsewhere (a blob hashed piece by piece). */
export function checkBlobDigest(got: string, loc: BlobLocation): void {
  if (got !== loc.id) {
    throw new CairnError('CORRUPT_OBJECT', `blob ${loc.id} in pack ${loc.packId} does not match its digest`, {
      data: { blob: loc.id, pack: loc.packId, actual: got },
      hint: 'run `cairn fsck` to see every damaged file and version',
    });
  }
}

/** A pack's entries from its bytes in memory: header, footer and the index's digest (its name) checked. */
function indexOfBytes(bytes: Buffer, packId: string): PackEntry[] {
  if (bytes.length < HEADER_SIZE + FOOTER_SIZE)
    throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
  checkHeader(bytes.subarray(0, HEADER_SIZE), packId);
  const f = parseFooter(bytes.subarray(bytes.length - FOOTER_SIZE), packId, bytes.length);
  return decodeIndex(
    bytes.subarray(f.indexOffset, f.indexOffset + f.indexLength),
    packId,
    f.indexOffset,
    f.indexDigest,
  );
}

/**
 * What is wrong with a pack's bytes against its name (null: nothing): header, footer, the index's
 * digest (the name) and every blob's digest, as `checkPack` (fsck) checks a pack on disk; for a
 * pack held in memory (a team server checking another account's upload before relying on it).
 */
export function packFault(bytes: Buffer, packId: string): string | null {
  try {
    for (const e of indexOfBytes(bytes, packId))
      verifyBlob(bytes.subarray(e.offset, e.offset + e.length), {
        id: e.id,
        packId,
        offset: e.offset,
        length: e.length,
      });
    return null;
  } catch (err) {
    if (err instanceof CairnError) return err.message;
    throw err;
  }
}

/** Reads `length` bytes of a pack at `offset` (fewer only where the pack ends first). */
export type RangeRead = (offset: number, length: number) => Promise<Buffer>;

/**
 * `packFault` for a pack read in ranges (a team server checking another account's upload in its
 * store): header, footer and index first, then the blobs in reads of at most `sliceBytes`, a blob
 * longer than that hashed piece by piece. So the memory held is bounded whatever the pack's size,
 * and the verdict (the first fault, in the same order and words) is `packFault`'s.
 */
export async function streamedPackFault(
  read: RangeRead,
  size: number,
  packId: string,
  o: { sliceBytes: number },
): Promise<string | null> {
  const exactly = async (offset: number, length: number) => {
    const b = length === 0 ? Buffer.alloc(0) : await read(offset, length);
    if (b.length !== length)
      throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
    return b;
  };
  try {
    if (size < HEADER_SIZE + FOOTER_SIZE)
      throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
    checkHeader(await exactly(0, HEADER_SIZE), packId);
    const f = parseFooter(await exactly(size - FOOTER_SIZE, FOOTER_SIZE), packId, size);
    // The index is 48 bytes a blob: a 32 MiB pack of 4 KiB chunks has a 400 KiB index.
    const entries = decodeIndex(await exactly(f.indexOffset, f.indexLength), packId, f.indexOffset, f.indexDigest);
    const slice = Math.max(1, o.sliceBytes);
    for (let i = 0; i < entries.length;) {
      const first = entries[i]!;
      const loc = (e: PackEntry) => ({ id: e.id, packId, offset: e.offset, length: e.length });
      if (first.length > slice) {
        const hash = createHash('sha256');
        for (let at = 0; at < first.length; at += slice)
          hash.update(await exactly(first.offset + at, Math.min(slice, first.length - at)));
        checkBlobDigest(hash.digest('hex'), loc(first));
        i++;
        continue;
      }
      // Consecutive blobs that fit in one read together.
      let j = i;
      while (j + 1 < entries.length && entries[j + 1]!.offset + entries[j + 1]!.length - first.offset <= slice) j++;
      const last = entries[j]!;
      const buf = await exactly(first.offset, last.offset + last.length - first.offset);
      for (let k = i; k <= j; k++) {
        const e = entries[k]!;
        verifyBlob(buf.subarray(e.offset - first.offset, e.offset - first.offset + e.length), loc(e));
      }
      i = j + 1;
    }
    return null;
  } catch (err) {
    if (err instanceof CairnError) return err.message;
    throw err;
  }
}

/**
 * `readPackIndex` for a pack read in ranges (a team server looking into a pack in its store):
 * header, footer and index only, the index checked against the digest the footer records.
 */
export async function rangedPackIndex(read: RangeRead, size: number, packId: string): Promise<PackEntry[]> {
  const exactly = async (offset: number, length: number) => {
    const b = length === 0 ? Buffer.alloc(0) : await read(offset, length);
    if (b.length !== length)
      throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
    return b;
  };
  if (size < HEADER_SIZE + FOOTER_SIZE)
    throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
  checkHeader(await exactly(0, HEADER_SIZE), packId);
  const f = parseFooter(await exactly(size - FOOTER_SIZE, FOOTER_SIZE), packId, size);
  return decodeIndex(await exactly(f.indexOffset, f.indexLength), packId, f.indexOffset, f.indexDigest);
}

/** Reads and checks a pack's footer and index without touching the blob bytes. */
export async function readPackIndex(path: string, packId: string): Promise<{ entries: PackEntry[]; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CairnError('MISSING_OBJECT', `pack ${packId} is missing`, { data: { pack: packId } });
    }
    throw ioError(err, 'open pack', path);
  }
  try {
    const { size } = await fh.stat();
    if (size < HEADER_SIZE + FOOTER_SIZE) {
      throw new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: too short`, { data: { pack: packId } });
    }
    const header = Buffer.alloc(HEADER_SIZE);
    await fh.read(header, 0, HEADER_SIZE, 0);
    checkHeader(header, packId);
    const footer = Buffer.alloc(FOOTER_SIZE);
    await fh.read(footer, 0, FOOTER_SIZE, size - FOOTER_SIZE);
    const f = parseFooter(footer, packId, size);
    const index = Buffer.alloc(f.indexLength);
    await fh.read(index, 0, f.indexLength, f.indexOffset);
    return { entries: decodeIndex(index, packId, f.indexOffset, f.indexDigest), size };
  } finally {
    await fh.close();
  }
}

export interface PackCheck {
  packId: string;
  /** Set when the pack as a whole cannot be read (missing, bad footer or index). */
  error: CairnError | null;
  entries: PackEntry[];
  /** Blob ids whose bytes no longer match. */
  badBlobs: string[];
  bytes: number;
}

/** Re-hashes every blob of a pack (fsck). Reads sequentially in large slices. */
export async function checkPack(path: string, packId: string, onBytes?: (n: number) => void): Promise<PackCheck> {
  let entries: PackEntry[];
  let size: number;
  try {
    ({ entries, size } = await readPackIndex(path, packId));
  } catch (err) {
    if (err instanceof CairnError) return { packId, error: err, entries: [], badBlobs: [], bytes: 0 };
    throw err;
  }
  const bad: string[] = [];
  const fh = await fsp.open(path, 'r');
  try {
    const SLICE = 16 * 1024 * 1024;
    let i = 0;
    while (i < entries.length) {
      // Group consecutive entries into one read of up to SLICE bytes (one blob may exceed it).
      const first = entries[i]!;
      let j = i;
      let end = first.offset + first.length;
      while (j + 1 < entries.length && entries[j + 1]!.offset + entries[j + 1]!.length - first.offset <= SLICE) {
        j++;
        end = entries[j]!.offset + entries[j]!.length;
      }
      const buf = Buffer.allocUnsafe(end - first.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, first.offset);
      for (let k = i; k <= j; k++) {
        const e = entries[k]!;
        const rel = e.offset - first.offset;
        if (rel + e.length > bytesRead) {
          bad.push(e.id);
          continue;
        }
        const got = createHash('sha256')
          .update(buf.subarray(rel, rel + e.length))
          .digest('hex');
        if (got !== e.id) bad.push(e.id);
      }
      onBytes?.(end - first.offset);
      i = j + 1;
    }
  } finally {
    await fh.close();
  }
  return { packId, error: null, entries, badBlobs: bad, bytes: size };
}
