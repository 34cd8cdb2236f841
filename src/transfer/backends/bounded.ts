import { CairnError } from '../../core/errors.js';
import { DEFAULT_MAX_GET_BYTES, type GetOptions } from './port.js';

/** The byte bound of one `get`: the caller's, else the backend's default. */
export function getBound(opts: GetOptions | undefined): number {
  const max = opts?.maxBytes ?? DEFAULT_MAX_GET_BYTES;
  if (!Number.isSafeInteger(max) || max < 0)
    throw new CairnError('INTERNAL', `a read bound must be a whole number of bytes, not ${max}`);
  return max;
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
