import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** One file of a version's listing. `digest` is the SHA-256 of its bytes, as the listing writes it. */
export interface FileInfo {
  path: string;
  size: number;
  digest: string;
}

/** Bytes [start, end) of a file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Reads a file of the version by its path. With a range, it should return just those bytes
 * (what keeps memory bounded for large files); a reader that ignores the range and returns
 * the whole file still works, only less frugally.
 */
export type ReadFile = (path: string, range?: ByteRange) => Promise<Buffer>;

/** Bytes [start, end) of `file` through `read`, whether or not the reader honours ranges. */
export async function readRange(read: ReadFile, file: FileInfo, start: number, end: number): Promise<Buffer> {
  end = Math.min(end, file.size);
  if (end <= start) return Buffer.alloc(0);
  const whole = start === 0 && end === file.size;
  const b = await read(file.path, whole ? undefined : { start, end });
  if (b.length > end - start) return b.subarray(start, end);
  return b;
}

/**
 * Byte ranges of one file. A reader that ignores ranges hands over the whole file on the first
 * call; it is kept for the later ranges, or a large file would be read once per chunk.
 */
export function rangesOf(read: ReadFile, file: FileInfo): (start: number, end: number) => Promise<Buffer> {
  let whole: Buffer | null = null;
  return async (start, end) => {
    if (whole) return whole.subarray(start, Math.min(end, whole.length));
    end = Math.min(end, file.size);
    if (end <= start) return Buffer.alloc(0);
    const b = await read(file.path, start === 0 && end === file.size ? undefined : { start, end });
    if (b.length > end - start) {
      whole = b;
      return b.subarray(start, end);
    }
    return b;
  };
}

/** Whole files up to this size are read synchronously by fsReader. */
const SYNC_READ_BYTES = 1024 * 1024;

/**
 * A ReadFile over a directory (e.g. a materialized version), reading ranges with positioned
 * reads. Small whole files are read synchronously: an asynchronous read costs four thread-pool
 * round trips, which halved the PII scan of 12,000 small e-mails (30 vs 50 MB/s), while a
 * synchronous read of a local file under 1 MB blocks for well under a millisecond.
 */
export function fsReader(root: string): ReadFile {
  return async (path, range) => {
    const abs = join(root, path);
    if (!range) {
      const size = statSync(abs).size;
      if (size <= SYNC_READ_BYTES) return readFileSync(abs);
    }
    const fh = await open(abs, 'r');
    try {
      if (!range) return await fh.readFile();
      const out = Buffer.allocUnsafe(Math.max(0, range.end - range.start));
      let got = 0;
      while (got < out.length) {
        const { bytesRead } = await fh.read(out, got, out.length - got, range.start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return out.subarray(0, got);
    } finally {
      await fh.close();
    }
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    // After a failure the others finish what they hold but take nothing new.
    for (let i = next++; i < items.length && !failed; i = next++) {
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
