import { Readable } from 'node:stream';
import { CairnError } from '../core/errors.js';
import type { RemoteBackend } from '../transfer/index.js';

/** One object of the store on its way to a reader: its size (the answer's Content-Length) and its bytes. */
export interface StoredObject {
  size: number;
  body: Readable;
}

/**
 * What one streamed read holds at a time: a slice read ahead, and the one the socket is taking.
 * A 1 GiB pack read by a slow client costs the server about two slices, not the pack.
 */
export const STREAM_SLICE_BYTES = 1024 * 1024;

/**
 * Streams `key` from the store a slice at a time, the next slice read only once the reader took
 * the last (backpressure), so N slow readers of a large pack cost N × two slices rather than
 * N × the pack. The size is the store's at the start; an object that ends short of it (removed
 * or replaced while read: packs are neither, unless found poisoned) fails the stream, which
 * cuts the answer short of its Content-Length — the reader sees an error, never a shorter pack.
 * A store without ranged reads (none a server opens today) is read whole, bounded by that size.
 */
export async function streamObject(
  backend: RemoteBackend,
  key: string,
  sliceBytes = STREAM_SLICE_BYTES,
): Promise<StoredObject> {
  const at = await backend.head(key);
  if (!at) throw new CairnError('NOT_FOUND', `the store has no object ${key}`, { data: { key } });
  const size = at.size;
  if (!backend.getRange) {
    const whole = await backend.get(key, { maxBytes: size });
    return { size: whole.length, body: Readable.from([whole], { objectMode: false }) };
  }
  const range = backend.getRange.bind(backend);
  let offset = 0;
  const body = new Readable({
    // One slice buffered ahead of the socket; `read` is not called again before a push.
    highWaterMark: sliceBytes,
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(sliceBytes, size - offset);
      range(key, offset, length).then(
        (slice) => {
          if (slice.length !== length) {
            this.destroy(shortObject(backend.url, key, size, offset + slice.length));
            return;
          }
          offset += length;
          this.push(slice);
        },
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  return { size, body };
}

function shortObject(store: string, key: string, size: number, got: number): CairnError {
  return new CairnError('IO_ERROR', `${store} ended ${key} at ${got} bytes, short of the ${size} it had`, {
    hint: 'the object changed while it was read; read it again',
    data: { key, size, got },
  });
}
