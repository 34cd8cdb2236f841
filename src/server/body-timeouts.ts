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
}

export const DEFAULT_BODY_TIMEOUTS: BodyTimeouts = { idleMs: 30_000, totalMs: 60_000, minBytesPerSecond: 64 * 1024 };

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
  const fail = (why: string): void => {
    clearTimeout(idle);
    clearTimeout(total);
    if (reply.raw.headersSent) return;
    payload.unpipe(out);
    // No keep-alive: the unread rest of the body must not be taken for the next request.
    reply.raw.setHeader('connection', 'close');
    reply.raw.once('finish', () => req.raw.socket.destroy());
    // Also when the answer cannot be written (the sender stopped reading too).
    setTimeout(() => req.raw.socket.destroy(), 1000).unref();
    out.destroy(
      new CairnError('REQUEST_TIMEOUT', `the request body ${why}; the connection was closed`, {
        hint: 'send the body without pauses; the server bounds are --body-idle-timeout and --body-timeout',
        data: { idleMs: t.idleMs, totalMs },
      }),
    );
  };
  const arm = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => fail(`sent nothing for ${t.idleMs / 1000} s`), t.idleMs);
  };
  const total = setTimeout(() => fail(`took longer than ${totalMs / 1000} s`), totalMs);
  arm();
  payload.on('data', arm);
  const done = (): void => {
    clearTimeout(idle);
    clearTimeout(total);
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
