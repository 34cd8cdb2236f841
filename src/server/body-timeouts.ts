import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CairnError } from '../core/errors.js';

/**
 * How long a request body may take to arrive (docs/SERVER.md "Start it"). Node's own
 * `requestTimeout` is one total for every request, which would either let a slow-loris body hold
 * its socket (and its share of the upload memory) for ever, or cut off a 1 GiB pack on a slow
 * link; these bounds are per body instead: no byte for `idleMs` ends it, and so does taking
 * longer than `totalMs` plus the time its declared size needs at `minBytesPerSecond`.
 */
export interface BodyTimeouts {
  idleMs: number;
  totalMs: number;
  minBytesPerSecond: number;
  /**
   * The floor on a body's rate over any `rateWindowMs` once its first window has passed (bytes
   * per second; 0: none). The idle bound alone let a byte every `idleMs` keep a body, and on the
   * byte routes its share of the upload memory, until the total bound — hours for a large pack.
   */
  minRate: number;
  rateWindowMs: number;
}

export const DEFAULT_BODY_TIMEOUTS: BodyTimeouts = {
  idleMs: 30_000,
  totalMs: 60_000,
  minBytesPerSecond: 64 * 1024,
  minRate: 1024,
  rateWindowMs: 30_000,
};

/**
 * The rate floor over a sliding window, fed (time, bytes so far) samples by its shell: pure, so
 * its rule is tested without sockets or clocks. The first window is grace (a connection ramping
 * up, a sender that paused to compute a digest); after it, the bytes that arrived since the
 * sample one window back must reach `bytesPerSecond` over that span.
 */
export class RateFloor {
  readonly #samples: Array<{ at: number; bytes: number }>;

  constructor(
    readonly bytesPerSecond: number,
    readonly windowMs: number,
    startedAt: number,
  ) {
    this.#samples = [{ at: startedAt, bytes: 0 }];
  }

  /** Whether the body is below the floor at `at`, having received `bytes` in all. */
  tooSlow(at: number, bytes: number): boolean {
    const s = this.#samples;
    s.push({ at, bytes });
    // Keep the latest sample at least a window old as the base, and everything after it.
    while (s.length > 2 && s[1]!.at <= at - this.windowMs) s.shift();
    const base = s[0]!;
    const span = at - base.at;
    if (this.bytesPerSecond <= 0 || span < this.windowMs) return false;
    return (bytes - base.bytes) * 1000 < this.bytesPerSecond * span;
  }
}

/**
 * The request's body as a stream that fails with REQUEST_TIMEOUT (408) when it stalls or is too
 * slow; the connection is then closed once the answer is sent, so the rest of the body is never
 * read and whatever was held for the request (a body-budget slot) is released with it.
 */
export function guardBody(req: FastifyRequest, reply: FastifyReply, payload: Readable, t: BodyTimeouts): Readable {
  const declared = Number(req.headers['content-length']);
  const sized = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  const totalMs = t.totalMs + Math.ceil((sized / t.minBytesPerSecond) * 1000);
  const out = new PassThrough();
  let idle: NodeJS.Timeout;
  let received = 0;
  const floor = new RateFloor(t.minRate, t.rateWindowMs, Date.now());
  const fail = (why: string): void => {
    clearTimeout(idle);
    clearTimeout(total);
    clearInterval(rate);
    if (reply.raw.headersSent) return;
    payload.unpipe(out);
    // No keep-alive: the unread rest of the body must not be taken for the next request.
    reply.raw.setHeader('connection', 'close');
    reply.raw.once('finish', () => req.raw.socket.destroy());
    // Also when the answer cannot be written (the sender stopped reading too).
    setTimeout(() => req.raw.socket.destroy(), 1000).unref();
    out.destroy(
      new CairnError('REQUEST_TIMEOUT', `the request body ${why}; the connection was closed`, {
        hint: 'send the body without pauses; the server bounds are --body-idle-timeout, --body-timeout and --body-min-rate',
        data: { idleMs: t.idleMs, totalMs, minRate: t.minRate, rateWindowMs: t.rateWindowMs },
      }),
    );
  };
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => fail(`sent nothing for ${t.idleMs / 1000} s`), t.idleMs);
  };
  const total = setTimeout(() => fail(`took longer than ${totalMs / 1000} s`), totalMs);
  // Sampled four times a window: the floor is checked over a window that slides by a quarter.
  const rate = setInterval(
    () => {
      if (floor.tooSlow(Date.now(), received))
        fail(`came slower than ${t.minRate} bytes/s over ${t.rateWindowMs / 1000} s`);
    },
    Math.max(1, t.rateWindowMs / 4),
  );
  if (t.minRate <= 0) clearInterval(rate);
  arm();
  payload.on('data', (chunk: Buffer) => {
    received += chunk.length;
    arm();
  });
  const done = (): void => {
    clearTimeout(idle);
    clearTimeout(total);
    clearInterval(rate);
  };
  payload.once('end', done);
  payload.once('error', done);
  out.once('close', done);
  // Answered before its body was read (413, a refusal): the connection may serve the next request.
  reply.raw.once('finish', done);
  reply.raw.once('close', done);
  payload.pipe(out);
  // Fastify checks the received length against Content-Length on this stream's counter.
  return out;
}

/** Every request body of `app` is guarded, except on the routes in `except` (which guard their own); returns `t`. */
export function guardBodies(app: FastifyInstance, t: BodyTimeouts, except: ReadonlySet<string>): BodyTimeouts {
  app.addHook('preParsing', async (req, reply, payload) =>
    hasBody(req) && !except.has(req.routeOptions.url ?? '') ? guardBody(req, reply, payload, t) : payload,
  );
  return t;
}

/** Whether a request announces a body (a length above 0, or chunked). */
function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}
