import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * When a connection's pending answer stops moving. The clock runs only while bytes wait to be
 * written (an idle keep-alive connection, or a handler still computing, is not stalled) and
 * restarts at every sign of progress: a reader that takes a large answer slowly but steadily is
 * served; one that stopped reading is not. Pure: fed (time, pending, progress mark) samples.
 */
export class WriteStall {
  #mark = '';
  #since: number | null = null;

  constructor(readonly stallMs: number) {}

  /** Whether the connection has had bytes pending and no progress for `stallMs` at `at`. */
  stalled(at: number, pending: boolean, mark: string): boolean {
    if (!pending) {
      this.#since = null;
      return false;
    }
    if (this.#since === null || mark !== this.#mark) {
      this.#mark = mark;
      this.#since = at;
      return false;
    }
    return at - this.#since >= this.stallMs;
  }
}

/**
 * Every connection of `server` is closed once its answer stalls for `stallMs` (docs/SERVER.md
 * "Bad input"): a client that reads a large answer a byte a minute, or not at all, held its
 * socket and the answer's bytes in the server's memory for as long as it liked.
 */
export function limitWriteStalls(server: Server, stallMs: number, onStall: () => void = () => {}): void {
  if (!(stallMs > 0)) return;
  server.on('connection', (socket: Socket) => {
    const clock = new WriteStall(stallMs);
    const tick = setInterval(
      () => {
        // Bytes still in Node's buffer or in libuv's write queue: either shrinking is progress.
        const queued = (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;
        const pending = socket.writableLength > 0 || queued > 0;
        if (clock.stalled(Date.now(), pending, `${socket.bytesWritten}:${queued}:${socket.writableLength}`)) {
          onStall();
          socket.destroy();
        }
      },
      Math.max(10, stallMs / 4),
    );
    tick.unref();
    socket.once('close', () => clearInterval(tick));
  });
}
