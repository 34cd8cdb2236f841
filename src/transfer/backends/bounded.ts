import { CairnError } from '../../core/errors.js';
import { DEFAULT_MAX_GET_BYTES, DEFAULT_MAX_LIST_KEYS, type GetOptions, type ListOptions } from './port.js';

/** The byte bound of one `get`: the caller's, else the backend's default. */
export function getBound(opts: GetOptions | undefined): number {
  const max = opts?.maxBytes ?? DEFAULT_MAX_GET_BYTES;
  if (!Number.isSafeInteger(max) || max < 0)
    throw new CairnError('INTERNAL', `a read bound must be a whole number of bytes, not ${max}`);
  return max;
}

/** The key bound of one `list`: the caller's, else the backend's default. */
export function listBound(opts: ListOptions | undefined): number {
  const max = opts?.maxKeys ?? DEFAULT_MAX_LIST_KEYS;
  if (!Number.isSafeInteger(max) || max < 0)
    throw new CairnError('INTERNAL', `a listing bound must be a whole number of keys, not ${max}`);
  return max;
}

/** What a remote that lists more keys than the reader accepts fails with; never retried. */
export function tooMany(remote: string, prefix: string, maxKeys: number): CairnError {
  return new CairnError(
    'IO_ERROR',
    `${remote} lists more than ${maxKeys} entries under ${prefix || '(all keys)'}; the listing was stopped there`,
    {
      hint: 'the remote is broken, not the one Cairn wrote to, or holds far more than Cairn put there; check it (cairn remote fsck)',
      data: { remote, prefix, maxKeys, tooMany: true },
    },
  );
}

/** What a remote that sends (or announces) more than the reader accepts fails with; never retried. */
export function tooLarge(remote: string, key: string, maxBytes: number, announced?: number): CairnError {
  const what = announced !== undefined ? `announced ${announced} bytes` : `sent more than ${maxBytes} bytes`;
  return new CairnError(
    'IO_ERROR',
    `${remote} ${what} for ${key}, more than the ${maxBytes} expected; nothing was kept`,
    {
      hint: 'the remote is broken or not the one Cairn wrote to; check it (cairn remote fsck) before trusting it',
      data: { remote, key, maxBytes, tooLarge: true, ...(announced !== undefined ? { announced } : {}) },
    },
  );
}

/**
 * Reads a stream into one buffer, stopping (and destroying the stream) as soon as it passes
 * `maxBytes`, so what an endless answer costs is the bound, not the process's memory.
 */
export async function readBounded(
  body: AsyncIterable<Uint8Array> & { destroy?: (err?: Error) => void },
  maxBytes: number,
  over: () => Error,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) {
      body.destroy?.();
      throw over();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
