import { CairnError } from '../../core/errors.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../chunker/index.js';
import type { WorkerPool } from '../workers/pool.js';
import type { HashResult } from '../workers/protocol.js';

const BATCH_FILES = 256;
const BATCH_BYTES = 64 * 1024 * 1024;

export interface HashedFile {
  digest: string;
  size: number;
  chunks: string[];
  stat: { ino: number; size: number; mtimeMs: number; ctimeMs: number };
}

/** Digests (and chunk ids) of files, spread over the worker pool; nothing is stored. */
export async function hashFiles(
  pool: WorkerPool,
  files: ReadonlyArray<{ abs: string; size: number }>,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
  onProgress?: (bytes: number, total: number) => void,
): Promise<HashedFile[]> {
  const batches: Array<Array<{ abs: string; i: number }>> = [];
  let cur: Array<{ abs: string; i: number }> = [];
  let bytes = 0;
  files.forEach((f, i) => {
    if (cur.length >= BATCH_FILES || (cur.length > 0 && bytes + f.size > BATCH_BYTES)) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push({ abs: f.abs, i });
    bytes += f.size;
  });
  if (cur.length) batches.push(cur);
  const out: HashedFile[] = new Array(files.length);
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  await Promise.all(
    batches.map(async (b) => {
      const reply = await pool.run({ type: 'hash', files: b.map((f) => ({ path: f.abs })), chunkParams: params });
      const results = (reply as { result: HashResult[] }).result;
      results.forEach((r, k) => {
        if (!r.ok) {
          const why =
            r.error.code === 'EACCES'
              ? 'permission denied'
              : r.error.code === 'ENOENT'
                ? 'it disappeared'
                : r.error.message;
          throw new CairnError('IO_ERROR', `cannot read ${b[k]!.abs}: ${why}`, {
            data: { path: b[k]!.abs, errno: r.error.code },
          });
        }
        out[b[k]!.i] = { digest: r.digest, size: r.size, chunks: r.chunks, stat: r.stat };
        done += r.size;
      });
      onProgress?.(done, total);
    }),
  );
  return out;
}
