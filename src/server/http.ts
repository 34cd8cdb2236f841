import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { API_PREFIX, operations, type Operation, type OperationId } from '../app/remote/contract.js';
import type { AuditActor, RequestEvent, RequestScope, ServerRuntime } from '../app/server.js';
import { CairnError, isCairnError, type ErrorCode } from '../core/errors.js';
import { canonicalJson } from '../core/canonical-json.js';
import type { Authenticated, IdentityView, Role } from '../identity/index.js';
import { handlers, type HandlerInput } from './handlers.js';
import { ServerMetrics } from './metrics.js';
import { bodySchema, openApiDocument, querySchema } from './openapi.js';
import { BYTE_ROUTES, mountStoreRoutes, UPLOAD_MEMORY } from './store-routes.js';
import { limitWriteStalls } from './write-stall.js';
import { checkMetricsToken, logPublicRequests } from './public-requests.js';
import { DEFAULT_BODY_TIMEOUTS, guardBodies, type BodyTimeouts } from './body-timeouts.js';
import { filesOf, inTempFolder } from './temp-files.js';
import { submittedProject } from './run-code.js';
import { cookies, CSRF_HEADER } from './auth-routes.js';
import { mountUi } from './ui-routes.js';
import { bodyRefusal, limitJsonDepth } from './json-body.js';
import { findSecretField, scrubSecrets } from './secret-shapes.js';
import { countEvents } from './request-events.js';
import {
  mayRead,
  readableTestSet,
  knownReader,
  readerOf,
  redactEntries,
  scopedAmbiguity,
  scopedReads,
  unknownRun,
  visibleEvent,
  visibleEvents,
  type Reader,
} from './read-scope.js';

export interface HttpOptions {
  /** Largest request body accepted (default 1 MiB): metadata only, bulk bytes go to the store. */
  bodyLimit?: number;
  /** Aliases only approvers may move, and never onto a version they trained or registered. */
  protectedAliases?: readonly string[];
  /** Other bearer credentials (OpenID Connect access tokens): an identity, or null when not one. */
  verifyBearer?: (token: string) => Promise<Authenticated | null>;
  /** A request without a bearer token: the identity its session cookie stands for, or null when it has none. */
  verifyRequest?: (req: FastifyRequest) => Promise<Authenticated | null>;
  /**
   * `cairn ui`: one person's workspace served to their own browser on loopback. Every request acts
   * as the workspace's actor with the same rights the CLI has there (no grants), reads are not
   * logged (the CLI does not log them either), and only requests addressed to a loopback name with
   * the CSRF header on writes are taken, so another web page cannot drive it (DNS rebinding, forms).
   */
  local?: boolean;
  /**
   * `cairn ui`'s secret: on a shared machine (an HPC login node) every local user can reach
   * 127.0.0.1, so loopback alone would let them act as the workspace's owner. Required with `local`.
   */
  localToken?: string;
  /** The web UI's built files (dist/ui): served at `/` when given. */
  uiDir?: string | null;
  /** The request bodies the store's byte routes hold in memory at once (default 512 MiB). */
  uploadMemory?: number;
  /** How long a request body may stall or take (body-timeouts.ts; defaults DEFAULT_BODY_TIMEOUTS). */
  bodyTimeouts?: Partial<BodyTimeouts>;
  /** How long an idle keep-alive connection stays open (default 72 s, Fastify's). */
  keepAliveTimeoutMs?: number;
  /** The most of `uploadMemory` one account's bodies hold at once, as a fraction (default 0.5). */
  uploadAccountShare?: number;
  /** An answer that makes no progress on its socket for this long has its connection closed (default 60 s; 0: never). */
  writeStallMs?: number;
  /** `--metrics-token-file`: /metrics answers only this bearer token (default: anyone). */
  metricsToken?: string;
}

/** The uploads one account may have waiting for upload memory; one more is refused (UPLOADS_BUSY). */
const UPLOADS_WAITING_PER_ACCOUNT = 16;

declare module 'fastify' {
  interface FastifyRequest {
    who?: Authenticated;
    /** The identities as of this request's arrival: its credential and every role check read them. */
    ids?: IdentityView;
    /** The operation this request was authenticated for (its audit events name it). */
    opId?: string;
    /** Set when `ids` is the identity generation last seen rather than one read after arrival. */
    guard?: Guard;
  }
}

/**
 * A read checked against the identity generation this process saw last, not one read after it
 * arrived (one statement fewer per read): its events are appended only while that generation
 * stands (`held` once one was), and an answer leaves only after that, or after a fresh reading
 * found it unchanged; else the request is checked again and answered anew.
 */
interface Guard {
  generation: number;
  held: boolean;
}

/** A request's scope, with the guard its events carry. */
type ServedScope = RequestScope & { guard?: Guard };

const ANONYMOUS = { id: 'anonymous', auth: 'none' } as const;

/** The HTTP shell of the team server: routes from the contract, authentication, roles, audit of every request. */
export async function createHttpServer(rt: ServerRuntime, opts: HttpOptions = {}): Promise<FastifyInstance> {
  const metrics = new ServerMetrics();
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 72_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    // A request Node's parser refuses (a malformed request line or header, headers too large)
    // never reaches a route: without this it left no trace in the log.
    clientErrorHandler: (err, socket) => void unparsed(rt, err, socket, opts, metrics),
  });
  limitJsonDepth(app);
  limitWriteStalls(app.server, opts.writeStallMs ?? 60_000, () => metrics.writeStalled());
  if (!opts.local) logPublicRequests(app, rt);
  // The store's byte routes guard their bodies once they have their share of upload memory.
  const bodyTimeouts = guardBodies(app, { ...DEFAULT_BODY_TIMEOUTS, ...opts.bodyTimeouts }, BYTE_ROUTES);
  const protectedAliases = new Set(opts.protectedAliases ?? ['production']);
  app.setErrorHandler(errorHandler(rt, opts, metrics));
  if (opts.local) {
    if (!opts.localToken || opts.localToken.length < 32)
      throw new CairnError('INTERNAL', 'cairn ui needs a secret token of at least 32 characters');
    const token = opts.localToken;
    app.addHook('onRequest', async (req, reply) => {
      loopbackOnly(req);
      // Fastify stops the chain only when a hook that answered returns the reply.
      if (await localSecret(req, reply, token)) return reply;
    });
  }
  app.setNotFoundHandler(notFound(rt, opts, metrics));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) =>
    (await rt.ready()) ? { ready: true } : reply.code(503).send({ ready: false }),
  );
  mountMetrics(app, metrics, opts.metricsToken);
  app.get(`${API_PREFIX}/openapi.json`, async () => openApiDocument());
  for (const [id, op] of Object.entries(operations) as Array<[OperationId, Operation]>) {
    if (opts.local && id.startsWith('store.')) continue;
    app.route({
      method: op.method,
      url: API_PREFIX + op.path,
      ...(op.bodyLimit ? { bodyLimit: op.bodyLimit } : {}),
      schema: routeSchema(op),
      onRequest: async (req) => {
        if (opts.local) return;
        // On PostgreSQL, reads are checked against the generation last seen and their event append
        // is guarded by it (a round trip fewer). On SQLite the reading is in-process and cheaper
        // than the guard's extra work (server CPU per read 0.34 ms fresh, 0.39 ms guarded).
        const lastSeen = op.method === 'GET' && rt.dialect === 'postgres';
        req.who = await authenticate(rt, req, id, opts, metrics, lastSeen).catch((err: unknown) => {
          if (!isCairnError(err, 'IDENTITY_MOVED')) throw err;
          return authenticate(rt, req, id, opts, metrics);
        });
      },
      handler: async (req, reply) => {
        const started = performance.now();
        try {
          const out = opts.local
            ? await serveLocal(rt, id, op, req, protectedAliases)
            : await served(rt, req, opts, metrics, () => serve(rt, id, op, req, reply, protectedAliases, metrics));
          if (!opts.local && !req.events && id !== 'audit.checkpoint') await answeredUnrecorded(rt, req, reply);
          metrics.observe(id, reply.statusCode, (performance.now() - started) / 1000);
          return out;
        } catch (err) {
          const e = toCairnError(err);
          metrics.observe(id, e.httpStatus, (performance.now() - started) / 1000);
          throw e;
        }
      },
    });
  }
  if (!opts.local) mountStore(app, rt, opts, metrics, bodyTimeouts);
  if (opts.uiDir) mountUi(app, opts.uiDir);
  return app;
}

/** `/metrics`, for anyone or, with `--metrics-token-file`, for its token only. */
function mountMetrics(app: FastifyInstance, metrics: ServerMetrics, token: string | undefined) {
  app.get('/metrics', async (req, reply) => {
    if (token !== undefined)
      try {
        checkMetricsToken(req, token);
      } catch (err) {
        metrics.denied('unauthenticated');
        throw err;
      }
    reply.type('text/plain; version=0.0.4');
    return metrics.render({});
  });
}

/** The store's byte routes, with their upload memory and each account's share of it. */
function mountStore(
  app: FastifyInstance,
  rt: ServerRuntime,
  opts: HttpOptions,
  metrics: ServerMetrics,
  bodyTimeouts: BodyTimeouts,
) {
  const memory = opts.uploadMemory ?? UPLOAD_MEMORY;
  const share = { bytes: Math.ceil(memory * (opts.uploadAccountShare ?? 0.5)), waiting: UPLOADS_WAITING_PER_ACCOUNT };
  mountStoreRoutes(app, rt, (req, id) => authenticate(rt, req, id, opts, metrics), memory, bodyTimeouts, share);
}

/**
 * A route's input schemas. Answers are written with JSON.stringify even where answers.ts describes
 * them: a serializer compiled from the schema (fast-json-stringify) wrote 50 model versions with a
 * fifth less CPU but left about 6.7 KB more garbage per read, which cost more than it saved
 * (docs/BENCHMARKS.md, "PostgreSQL reads: described once").
 */
function routeSchema(op: Operation) {
  return {
    ...(op.params ? { params: { type: 'object', properties: op.params, additionalProperties: false } } : {}),
    querystring: querySchema(op),
    ...(op.body ? { body: bodySchema(op) } : {}),
  };
}

/** Every failure's answer; a body or query refused before any handler ran is recorded as a denied request. */
function errorHandler(rt: ServerRuntime, opts: HttpOptions, metrics: ServerMetrics) {
  return async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toCairnError(err);
    // A body or query refused before any handler ran is a denied request like any other.
    const why = req.who && !opts.local ? bodyRefusal(err) : null;
    const unrecorded =
      why === null && req.who !== undefined && !opts.local && !req.events && e.code !== 'IDENTITY_MOVED';
    // A retry overtaking its own write (409 running) is not recorded: that write is, and it may
    // hold the log's head while it waits, so an event here would wait behind it (another
    // process's: test/server/multiserver-idempotency.test.ts).
    if (unrecorded && e.data?.running !== true)
      try {
        await failedUnrecorded(rt, req, e);
      } catch (recordErr) {
        return sendError(reply, toCairnError(recordErr));
      }
    if (why !== null)
      try {
        await refusedBody(rt, req, e, why, metrics).catch(async (recordErr: unknown) => {
          if (!isCairnError(recordErr, 'IDENTITY_MOVED')) throw recordErr;
          // Checked again with a fresh reading: a credential revoked meanwhile gets its 401 instead.
          req.who = await authenticate(rt, req, req.opId ?? 'unknown', opts, metrics);
          await refusedBody(rt, req, e, why, metrics);
        });
      } catch (recordErr) {
        return sendError(reply, toCairnError(recordErr));
      }
    return sendError(reply, e);
  };
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * `cairn ui` answers only requests addressed to a loopback name (a page on evil.example whose
 * name was rebound to 127.0.0.1 still sends Host: evil.example), and takes writes only with the
 * CSRF header, which a cross-site form cannot set and a cross-site fetch cannot send unasked.
 */
function loopbackOnly(req: FastifyRequest) {
  const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  if (!LOOPBACK_NAMES.has(host))
    throw new CairnError(
      'PERMISSION_DENIED',
      `cairn ui answers only on 127.0.0.1 or localhost, not ${host || '(no Host)'}`,
    );
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[CSRF_HEADER] === undefined)
    throw new CairnError('PERMISSION_DENIED', `a write to cairn ui needs the ${CSRF_HEADER} header`);
}

/** The cookie that carries `cairn ui`'s secret; per port, as browsers share cookies across a host's ports. */
export function localUiCookie(port: number): string {
  return `cairn_ui_${port}`;
}

/**
 * Only whoever holds the secret `cairn ui` printed may use it (as Jupyter does): the link's
 * `?token=` is exchanged once for an HttpOnly SameSite=Strict cookie and dropped from the address
 * bar; scripts may send `Authorization: Bearer <token>` instead. The UI's hashed assets are public
 * code and need no secret.
 */
async function localSecret(req: FastifyRequest, reply: FastifyReply, token: string): Promise<boolean> {
  const path = req.url.split('?')[0]!;
  if (path.startsWith('/assets/') || path === '/healthz') return false;
  const cookieName = localUiCookie(req.socket.localPort ?? 0);
  const query = req.query as Record<string, unknown> | undefined;
  const offered = typeof query?.token === 'string' ? query.token : undefined;
  if (offered !== undefined && req.method === 'GET' && sameSecret(offered, token)) {
    const u = new URL(req.url, 'http://cairn.invalid');
    u.searchParams.delete('token');
    reply.header('set-cookie', `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`);
    reply.header('cache-control', 'no-store');
    await reply.redirect(u.pathname + u.search, 303);
    return true;
  }
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  const cookie = cookies(req)[cookieName];
  if ((bearer !== undefined && sameSecret(bearer, token)) || (cookie !== undefined && sameSecret(cookie, token)))
    return false;
  const e = new CairnError('UNAUTHENTICATED', 'cairn ui answers only the link it printed (it carries ?token=…)', {
    hint: 'open the link `cairn ui` printed when it started, or send Authorization: Bearer <token>',
  });
  if (req.method === 'GET' && !path.startsWith(API_PREFIX + '/') && (req.headers.accept ?? '').includes('text/html')) {
    await reply
      .code(401)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        '<!doctype html><meta charset="utf-8"><title>Cairn: sign in</title>' +
          '<p>This Cairn UI answers only the link <code>cairn ui</code> printed when it started ' +
          '(it ends in <code>?token=…</code>). Open that link, or start <code>cairn ui</code> again.</p>',
      );
    return true;
  }
  throw e;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The workspace's own user at their own workspace: what the CLI may do there, the UI may do (the
 * services still enforce every alias policy, as for `cairn model promote`).
 */
async function serveLocal(
  rt: ServerRuntime,
  id: OperationId,
  op: Operation,
  req: FastifyRequest,
  protectedAliases: ReadonlySet<string>,
): Promise<unknown> {
  const actor = rt.localActor!;
  const principal = { id: 'local', name: actor.id, kind: 'user' as const, groups: [] };
  const input = {
    params: { ...(req.params as Record<string, string>) },
    query: { ...(req.query as Record<string, string>) },
    body: { ...(req.body as Record<string, unknown>) },
    principal,
  };
  const scope: RequestScope = { actor, command: `ui ${id}`, client: `cairn-ui/${op.method}` };
  if (id === 'audit.bundle') return rt.runAs(scope, () => bundle(rt));
  const out = await rt.runAs(scope, () => handlers[id](rt.services, input, rt));
  if (id === 'whoami')
    return { ...(out as object), role: 'admin', local: true, protectedAliases: [...protectedAliases] };
  return out;
}

/** Who the request's credential proves (a session cookie, a Cairn token or an OpenID token); throws UNAUTHENTICATED. */
async function identify(
  rt: ServerRuntime,
  req: FastifyRequest,
  opts: HttpOptions,
  lastSeen = false,
): Promise<Authenticated> {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const ids = (req.ids = await rt.identity.view({ lastSeen }));
  req.guard = ids.fresh ? undefined : { generation: ids.generation, held: false };
  const viaSession = !m && opts.verifyRequest ? await opts.verifyRequest(req) : null;
  if (viaSession) return viaSession;
  if (!m) throw new CairnError('UNAUTHENTICATED', 'this request needs a credential (Authorization: Bearer <token>)');
  const token = m[1]!;
  if (token.startsWith('cairn_')) return await ids.authenticate(token);
  const other = opts.verifyBearer ? await opts.verifyBearer(token) : null;
  if (!other)
    throw new CairnError('UNAUTHENTICATED', 'the credential is not a Cairn API token or a valid OpenID token');
  return other;
}

async function authenticate(
  rt: ServerRuntime,
  req: FastifyRequest,
  id: OperationId | string,
  opts: HttpOptions,
  metrics: ServerMetrics,
  lastSeen = false,
): Promise<Authenticated> {
  req.opId = id;
  try {
    return await identify(rt, req, opts, lastSeen);
  } catch (err) {
    const e = toCairnError(err);
    if (!req.guard) metrics.denied('unauthenticated');
    await record(rt, scopeOf(req, ANONYMOUS, id as OperationId), {
      draft: {
        action: 'server.denied',
        target: { type: 'api', name: id },
        params: { status: 401, ...credentialOf(e) },
      },
      outcome: 'denied',
      reason: `${e.code}: ${e.message}`,
    });
    // Counted once the refusal stands (a guarded one may be checked again).
    if (req.guard) metrics.denied('unauthenticated');
    throw e;
  }
}

/**
 * Answers a request checked against the identity generation last seen only once that
 * generation is known to still stand (a guarded event appended, or a fresh reading); else
 * checks the credential again with a fresh reading and answers anew (nothing of the first
 * attempt was written: its guarded events were refused whole).
 */
async function served<T>(
  rt: ServerRuntime,
  req: FastifyRequest,
  opts: HttpOptions,
  metrics: ServerMetrics,
  answer: () => Promise<T>,
): Promise<T> {
  try {
    const out = await answer();
    if (await stands(rt, req)) return out;
  } catch (err) {
    if (!isCairnError(err, 'IDENTITY_MOVED') && (await stands(rt, req))) throw err;
  }
  // The first attempt's events were refused whole: the answer anew records its own.
  req.events = 0;
  req.who = await authenticate(rt, req, req.opId ?? 'unknown', opts, metrics);
  return answer();
}

async function stands(rt: ServerRuntime, req: FastifyRequest): Promise<boolean> {
  const g = req.guard;
  return !g || g.held || (await rt.identity.view()).generation === g.generation;
}

/** Appends a request's event, guarded when the request was checked against the generation last seen. */
async function record(rt: ServerRuntime, scope: ServedScope, e: Omit<RequestEvent, 'context' | 'guard'>) {
  const g = scope.guard;
  await rt.recordRequest({ ...e, context: rt.contextFor(scope), ...(g ? { guard: g.generation } : {}) });
  if (g) g.held = true;
}

/** The answer to a path no route serves; probing for routes is a trace worth keeping. */
function notFound(rt: ServerRuntime, opts: HttpOptions, metrics: ServerMetrics) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!;
    const e = new CairnError('NOT_FOUND', `no route ${req.method} ${scrubSecrets(path).slice(0, 200)}`);
    if (!opts.local) await unrouted(rt, req, opts, metrics, path);
    return sendError(reply, e);
  };
}

/** A request to a path no route serves: a `server.denied` 404 event, the path scrubbed of secrets. */
async function unrouted(rt: ServerRuntime, req: FastifyRequest, opts: HttpOptions, m: ServerMetrics, path: string) {
  m.denied('not_found');
  // The probe names whoever the credential proves; a missing or bad one is anonymous here.
  const actor = await identify(rt, req, opts).then(
    (w) => w.actor as AuditActor,
    () => ANONYMOUS,
  );
  await record(rt, scopeOf(req, actor, 'unrouted' as OperationId), {
    draft: {
      action: 'server.denied',
      target: { type: 'api', name: 'unrouted' },
      params: { status: 404, method: req.method.slice(0, 16), path: scrubSecrets(path).slice(0, 200) },
    },
    outcome: 'denied',
    reason: 'NOT_FOUND: no route takes this method and path',
  });
}

/**
 * A request Node's HTTP parser refused: answered 400 (431 for oversized headers, 408 for one
 * that never finished) and recorded as anonymous, since nothing of it could be read reliably.
 */
async function unparsed(
  rt: ServerRuntime,
  err: NodeJS.ErrnoException,
  socket: Duplex,
  opts: HttpOptions,
  m: ServerMetrics,
) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  m.denied('malformed');
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify({
    error: { code: 'USAGE', message: `the server could not read this HTTP request (${err.code ?? 'malformed'})` },
  });
  if (socket.writable)
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  else socket.destroy();
  if (opts.local) return;
  try {
    await rt.recordRequest({
      draft: {
        action: 'server.denied',
        target: { type: 'api', name: 'unparsed' },
        params: { status, code: String(err.code ?? 'unknown').slice(0, 40) },
      },
      outcome: 'denied',
      reason: `USAGE: malformed HTTP request (${String(err.code ?? 'unknown').slice(0, 40)})`,
      context: rt.contextFor({ actor: ANONYMOUS, command: 'api unparsed' }),
    });
  } catch {
    // The answer is already sent; a log that cannot be written fails the next request loudly.
  }
}

/**
 * The event of a request whose body or query was refused before any handler ran: who sent it,
 * the status, how many bytes it declared and why — never the body itself.
 */
async function refusedBody(rt: ServerRuntime, req: FastifyRequest, e: CairnError, why: string, m: ServerMetrics) {
  m.denied('bad_request');
  const declared = Number(req.headers['content-length']);
  const id = (req.opId ?? 'unknown') as OperationId;
  await record(rt, scopeOf(req, req.who!.actor, id), {
    draft: {
      action: 'server.denied',
      target: { type: 'api', name: id },
      params: { status: e.httpStatus, bytes: Number.isSafeInteger(declared) ? declared : null },
    },
    outcome: 'denied',
    reason: `${e.code}: ${why}`,
  });
}

/**
 * A request that passed its checks and then failed with no event of its own (a read of a name
 * that does not exist, a write refused before its service recorded anything, a store route's
 * refusal, an Idempotency-Key reused for another request): a `server.denied` event with the
 * status and the error, so that probing names or attempting a refused write leaves a trace.
 * Its answer was already checked against a fresh identity reading: the event is not guarded.
 */
async function failedUnrecorded(rt: ServerRuntime, req: FastifyRequest, e: CairnError) {
  const id = (req.opId ?? 'unknown') as OperationId;
  const { guard: _checked, ...scope } = scopeOf(req, req.who!.actor, id);
  await record(rt, scope, {
    draft: {
      action: 'server.denied',
      target: { type: 'api', name: id },
      params: { status: e.httpStatus, ...requestOf(req) },
    },
    // Denied only where an identity or a role was refused; a name that does not exist (the probes
    // of every first push among them) or a malformed request failed, and says so.
    outcome: e.httpStatus === 401 || e.httpStatus === 403 ? 'denied' : 'failed',
    reason: scrubSecrets(`${e.code}: ${e.message}`).slice(0, 500),
  });
}

/** A request answered with no event of its own: a replayed answer (Idempotency-Key), or a check that changes nothing (`audit verify`). */
async function answeredUnrecorded(rt: ServerRuntime, req: FastifyRequest, reply: FastifyReply) {
  const id = (req.opId ?? 'unknown') as OperationId;
  const status = reply.statusCode;
  const replay = reply.getHeader('idempotent-replay') === 'true';
  await record(rt, scopeOf(req, req.who!.actor, id), {
    draft: {
      action: status >= 400 ? 'server.denied' : 'server.read',
      target: { type: 'api', name: id },
      params: { status, ...(replay ? { replay: true } : {}), ...requestOf(req) },
    },
    outcome: status === 401 || status === 403 ? 'denied' : status >= 400 ? 'failed' : 'ok',
  });
}

/** What a request named in its path and query (never its body), as a read's event records it. */
function requestOf(req: FastifyRequest): Record<string, unknown> {
  const query = { ...((req.query as Record<string, unknown> | undefined) ?? {}) };
  const { '*': key, ...params } = { ...((req.params as Record<string, unknown> | undefined) ?? {}) };
  // A store route's object key is its wildcard.
  return scrubSecrets({ ...(Object.keys(query).length ? { query } : {}), ...params, ...(key ? { key } : {}) });
}

function credentialOf(e: CairnError): Record<string, unknown> {
  if (typeof e.data?.subject === 'string') return { subject: e.data.subject };
  return typeof e.data?.token === 'string' ? { token: e.data.token } : {};
}

async function serve(
  rt: ServerRuntime,
  id: OperationId,
  op: Operation,
  req: FastifyRequest,
  reply: FastifyReply,
  protectedAliases: ReadonlySet<string>,
  metrics: ServerMetrics,
): Promise<unknown> {
  const who = req.who!;
  const ids = req.ids ?? (await rt.identity.view());
  // Fastify's parsed objects have no prototype; events and services take plain JSON.
  const input = {
    params: { ...(req.params as Record<string, string>) },
    query: { ...(req.query as Record<string, string>) },
    body: { ...(req.body as Record<string, unknown>) },
    principal: who.principal,
  };
  const scope = scopeOf(req, who.actor, id);
  if (op.method !== 'GET') await refuseSecretFields(rt, scope, id, input, metrics);
  const alias = aliasMoved(rt, id, input);
  const guarded = alias !== null && protectedAliases.has(alias);
  const need: Role = guarded ? 'approver' : op.role;
  // What the caller may read (docs/SERVER.md "What a reader of some projects sees").
  // Answered at once from kept grants where it can be (each await is a promise the context hooks track).
  const known = ids.known();
  const reader = (known && knownReader(known, who)) ?? (await readerOf(ids, who));
  if (RUN_OPS.has(id)) input.params.id = await runReadable(rt, scope, id, reader, String(input.params.id), metrics);
  const project = projectNow(id, input) ?? (await projectOf(rt, scope, id, input));
  const decision =
    known?.authorize(who.principal, need, project) ?? (await ids.authorize(who.principal, need, project));
  if (!decision.allowed) await deny(rt, scope, id, decision.reason, metrics);
  // An approval is never one's own, whatever the alias's policy says (an approver sets policies).
  if (guarded || id === 'models.approve') await separateDuties(rt, scope, id, input, metrics);
  if (id === 'audit.bundle') return rt.runAs(scope, () => bundle(rt, reader, scope));
  if (INPUT_READS.has(id)) await readableInputs(rt, ids, scope, who, id, input, reader, metrics);
  const scoped = reader.readable.all || input.query.project ? undefined : scopedReads[id];
  const run = (s: RequestScope = scope) =>
    rt
      .runAs(s, () => (scoped ? scoped(rt.services, input, rt, reader, s) : handlers[id](rt.services, input, rt)))
      .catch(async (err: unknown) => {
        if (!RUN_REFS.has(id)) throw err;
        throw await scopedAmbiguity(err, reader, async (runId) => {
          const r = await rt.runAs(scope, () => rt.services.runs.details(runId)).catch(() => null);
          return r?.project ?? null;
        });
      });
  if (op.method === 'GET') {
    const refsKey = id === 'runs.compare' ? 'refs' : id === 'runs.curves' ? 'ids' : null;
    if (refsKey) {
      const refs = String(input.query[refsKey]).split(',');
      input.query[refsKey] = (await readableRuns(rt, ids, scope, who, refs, metrics, id, reader)).join(',');
    }
    let out =
      reader.wholeLog || !AUDIT_READS.has(id) ? undefined : await readAudit(rt, scope, id, input, reader, metrics);
    if (out === undefined)
      out = LISTINGS.has(id) && !input.query.project ? await visibleRuns(ids, who, await run()) : await run();
    // The UI offers only the buttons a person may use: it asks for the role they hold.
    if (id === 'whoami')
      out = {
        ...(out as object),
        role: await strongestRole(ids, who),
        local: false,
        protectedAliases: [...protectedAliases],
      };
    if (id !== 'audit.checkpoint')
      await record(rt, scope, {
        draft: {
          action: 'server.read',
          target: { type: 'api', name: id },
          params: scrubSecrets({ query: input.query, ...input.params }),
        },
        outcome: 'ok',
      });
    return out;
  }
  const answer =
    id === 'audit.verify' && !reader.wholeLog ? async (s?: RequestScope) => scopedVerify(await run(s)) : run;
  return idempotent(rt, req, reply, { who, id, scope }, answer);
}

/** Content a write stores but does not record (a run's code files): only its file names are checked. */
const UNRECORDED = new Set(['body.files']);

/**
 * A write records its own fields in the signed log, forever: a credential pasted into one (a
 * token's label, a reason, a name) is refused before anything happens, and the refusal names
 * the field and the kind of credential, never the value.
 */
async function refuseSecretFields(
  rt: ServerRuntime,
  scope: ServedScope,
  id: OperationId,
  input: HandlerInput,
  m: ServerMetrics,
): Promise<void> {
  const found =
    findSecretField(input.params, 'params') ??
    findSecretField(input.query, 'query') ??
    findSecretField(input.body, 'body', id === 'runs.submit' ? UNRECORDED : undefined);
  if (!found) return;
  const e = new CairnError(
    'SECRET_IN_INPUT',
    `${found.field} holds what looks like ${found.kind}; nothing was done and it was not recorded`,
    {
      data: { field: found.field, kind: found.kind },
      hint: 'if it is a real credential, revoke or rotate it (it may also be in your shell history); credentials go in the environment or an owner-only key file, never in a field',
    },
  );
  m.denied('bad_request');
  await record(rt, scope, {
    draft: {
      action: 'server.denied',
      target: { type: 'api', name: id },
      params: { status: e.httpStatus, field: found.field },
    },
    outcome: 'denied',
    reason: `SECRET_IN_INPUT: ${found.kind} in ${found.field}`,
  });
  throw e;
}

/** The strongest role the caller holds on `default` (datasets and models), or null. */
async function strongestRole(ids: IdentityView, who: Authenticated): Promise<Role | null> {
  for (const r of ['admin', 'approver', 'contributor', 'viewer'] as const)
    if ((await ids.authorize(who.principal, r, 'default')).allowed) return r;
  return null;
}

/** Operations on one run: authorized on that run's project. */
const RUN_OPS = new Set<OperationId>([
  'runs.show',
  'runs.logs',
  'runs.metrics',
  'runs.metricSeries',
  'runs.why',
  'runs.cancel',
  'runs.tail',
]);

/** Operations whose refs name runs: an ambiguous one lists only the caller's candidates. */
const RUN_REFS = new Set<OperationId>([...RUN_OPS, 'runs.compare', 'runs.curves', 'models.register']);

/** Listings of every project's runs: cut to the projects the caller may read. */
const LISTINGS = new Set<OperationId>(['runs.list', 'runs.find']);
/** The operations readableInputs checks, and those readAudit answers for a reader of part of the log. */
const INPUT_READS = new Set<OperationId>(['models.register', 'models.evaluate']);
const AUDIT_READS = new Set<OperationId>(['audit.events', 'audit.event', 'audit.prove']);

/**
 * What a write reads besides its target must be the caller's to read: a model registered from a
 * run copies its outputs (the run's project), an evaluation reads its test set.
 */
async function readableInputs(
  rt: ServerRuntime,
  ids: IdentityView,
  scope: RequestScope,
  who: Authenticated,
  id: OperationId,
  input: HandlerInput,
  reader: Reader,
  m: ServerMetrics,
): Promise<void> {
  if (id === 'models.register')
    [input.body.fromRun] = await readableRuns(rt, ids, scope, who, [String(input.body.fromRun)], m, id, reader);
  if (id === 'models.evaluate')
    await rt.runAs(scope, () => readableTestSet(rt.services, reader, String(input.body.data)));
}

/**
 * Comparing runs (or registering one's outputs) reads each of them: every run's own project must
 * be readable. Returns each ref resolved to its run's id among the caller's runs.
 */
async function readableRuns(
  rt: ServerRuntime,
  ids: IdentityView,
  scope: ServedScope,
  who: Authenticated,
  refs: string[],
  m: ServerMetrics,
  id: OperationId,
  reader: Reader,
): Promise<string[]> {
  const out: string[] = [];
  for (const ref of refs) {
    const resolved = await runReadable(rt, scope, id, reader, ref, m);
    out.push(resolved);
    const run = await rt.runAs(scope, () => rt.services.runs.details(resolved)).catch(() => null);
    if (!run) continue;
    const d = await ids.authorize(who.principal, 'viewer', run.project);
    if (!d.allowed) await deny(rt, scope, id, d.reason, m);
  }
  return out;
}

/**
 * For a caller who cannot read every project, a run of a project they cannot read and a run
 * that does not exist get the same answer (404) and leave the same event in their own view of
 * the log: a 403, or a reason naming the project, would confirm that the name or prefix they
 * tried is someone else's run. The ref is resolved as if only the caller's runs existed: a
 * unique match among them is the run (its full id is returned, for the handler to read), an
 * ambiguity lists only theirs, and none is the answer for a run that does not exist.
 */
async function runReadable(
  rt: ServerRuntime,
  scope: ServedScope,
  id: OperationId,
  reader: Reader,
  ref: string,
  m: ServerMetrics,
): Promise<string> {
  const readable = reader.readable;
  if (readable.all) return ref;
  const projects = readable.projects;
  try {
    const run = await rt.runAs(scope, () => rt.services.runs.details(ref, { projects }));
    if (mayRead(reader, run.project)) return run.id;
  } catch (err) {
    // Ambiguous among the caller's own runs: every candidate listed is theirs to see.
    if (isCairnError(err, 'AMBIGUOUS_REF')) throw err;
  }
  m.denied('forbidden');
  await record(rt, scope, {
    draft: { action: 'server.denied', target: { type: 'api', name: id }, params: { status: 404, run: ref } },
    outcome: 'denied',
    reason: `NOT_FOUND: no run ${ref} in a project ${reader.name} may read`,
  });
  throw unknownRun(ref);
}

/**
 * The audit reads for a caller who is not an admin: events they may not see are left out of a
 * listing and refused one by one (checkpoints are hashes, and answered whole). Undefined when
 * the request is not one of these, or the caller sees everything.
 */
async function readAudit(
  rt: ServerRuntime,
  scope: ServedScope,
  id: OperationId,
  input: HandlerInput,
  reader: Reader,
  m: ServerMetrics,
): Promise<unknown> {
  if (reader.wholeLog) return undefined;
  if (id === 'audit.events') return visibleEvents(rt, scope, reader, input.query);
  if (id !== 'audit.event' && id !== 'audit.prove') return undefined;
  const index = Number(input.params.index);
  const stored = await rt.runAs(scope, () => rt.services.audit.event(index));
  if (!(await visibleEvent(rt, scope, reader, stored.event)))
    await deny(
      rt,
      scope,
      id,
      `event ${index} is about what ${reader.name} may not read; its hash is in every audit bundle (cairn audit verify)`,
      m,
    );
  return id === 'audit.event' ? stored : rt.runAs(scope, () => handlers[id](rt.services, input, rt));
}

/**
 * The server's own verification for a caller who is not an admin: whether it passed, and where
 * (entry indexes and kinds of problem), but not the action counts, row counts or row keys that
 * would describe projects they cannot read. Their client verifies the whole log itself anyway.
 */
function scopedVerify(out: unknown): unknown {
  const r = out as { problems?: Array<{ index: number | null; kind: string }>; firstBad?: unknown };
  const bare = (p: { index: number | null; kind: string; rangeEnd?: number }) => ({
    index: p.index,
    ...(p.rangeEnd !== undefined ? { rangeEnd: p.rangeEnd } : {}),
    kind: p.kind,
    message: `${p.kind}${p.index === null ? '' : ` at entry ${p.index}`} (details for admins only)`,
  });
  return {
    ...(out as object),
    actions: {},
    state: null,
    problems: (r.problems ?? []).map(bare),
    firstBad: r.firstBad ? bare(r.firstBad as never) : null,
  };
}

/**
 * What every project shares: accounts, tokens and grants (a token or a grant reaches every project)
 * and the GPU ledger. Only an admin on `*` changes them: an admin of one project who could would
 * mint a token for the team's admin, or grant themselves any other project.
 */
const TEAM_OPS = new Set<OperationId>([
  'accounts.list',
  'accounts.add',
  'accounts.disable',
  'grants.set',
  'tokens.list',
  'tokens.create',
  'tokens.revoke',
  'compute.setProject',
]);

/**
 * The project a request is authorized on when no run needs reading to know it (null when one
 * does): `*` for what the team shares, the one named, else `default` (datasets and models today).
 */
function projectNow(id: OperationId, input: HandlerInput): string | null {
  if (TEAM_OPS.has(id)) return '*';
  if (typeof input.query.project === 'string') return input.query.project;
  return id === 'runs.submit' || RUN_OPS.has(id) ? null : 'default';
}

async function projectOf(rt: ServerRuntime, scope: ServedScope, id: OperationId, input: HandlerInput) {
  if (typeof input.query.project === 'string') return input.query.project;
  // A submission names its project in the spec (or a --set), not in the URL.
  if (id === 'runs.submit')
    return submittedProject(
      String(input.body.spec),
      String(input.body.specName),
      (input.body.sets as string[] | undefined) ?? [],
    );
  if (!RUN_OPS.has(id)) return 'default';
  // An unknown run is authorized on `default` and then answered NOT_FOUND by the service.
  const run = await rt.runAs(scope, () => rt.services.runs.details(String(input.params.id))).catch(() => null);
  return run?.project ?? 'default';
}

/** A listing of every project's runs shows only those of projects the caller may read. */
async function visibleRuns(ids: IdentityView, who: Authenticated, out: unknown): Promise<unknown> {
  // run ls's listing: the same cut on its runs (the count of matches then counts only those).
  if (out && typeof out === 'object' && Array.isArray((out as { runs?: unknown }).runs)) {
    const listing = out as { runs: unknown[]; matched: number };
    const runs = (await visibleRuns(ids, who, listing.runs)) as unknown[];
    return { ...listing, runs, matched: listing.matched - (listing.runs.length - runs.length) };
  }
  if (!Array.isArray(out)) return out;
  const allowed = new Map<string, boolean>();
  const known = ids.known();
  for (const r of out as Array<{ project: string }>)
    if (!allowed.has(r.project))
      allowed.set(
        r.project,
        (
          known?.authorize(who.principal, 'viewer', r.project) ??
          (await ids.authorize(who.principal, 'viewer', r.project))
        ).allowed,
      );
  return (out as Array<{ project: string }>).filter((r) => allowed.get(r.project));
}

/** The operations that move an alias: on a protected alias they need an approver. */
const ALIAS_MOVES = new Set<OperationId>(['models.promote', 'models.removeAlias', 'models.rollback']);

/**
 * The alias a request would move, or null: the one named, or for a deployment the one its
 * environment serves (a successful deploy moves it, so it is guarded like a promotion).
 */
function aliasMoved(rt: ServerRuntime, id: OperationId, input: HandlerInput): string | null {
  if (ALIAS_MOVES.has(id)) return String(input.body.alias ?? input.params.alias ?? '');
  if (id === 'deployments.deploy') return rt.servedAlias(String(input.body.env));
  return null;
}

async function deny(rt: ServerRuntime, scope: ServedScope, id: OperationId, reason: string, metrics: ServerMetrics) {
  metrics.denied('forbidden');
  await record(rt, scope, {
    draft: { action: 'server.denied', target: { type: 'api', name: id }, params: { status: 403 } },
    outcome: 'denied',
    reason: `PERMISSION_DENIED: ${reason}`,
  });
  throw new CairnError('PERMISSION_DENIED', reason, { hint: 'ask a server admin for a grant (cairn server grant)' });
}

/**
 * A protected alias never moves onto a version by the hand of whoever trained or registered it,
 * and nobody approves such a version: not even under a policy without `separateApprover`, which
 * any approver may set (test/attack/teammate.test.ts).
 * The version checked is the version moved: a ref naming it through another alias (`m@staging`)
 * or as the latest (`m`) is pinned to its number (versions never change), and a rollback is told
 * where it was checked to return to — otherwise that alias could move between this check and the
 * service's own resolution, putting the caller's own version live (test/attack/server-sod-race.test.ts).
 */
async function separateDuties(
  rt: ServerRuntime,
  scope: ServedScope,
  id: OperationId,
  input: HandlerInput,
  m: ServerMetrics,
) {
  const ref = await rt.runAs(scope, () => destination(rt, id, input));
  if (ref === null) return;
  // Only who made it: a full `show` (aliases, evaluations, approvals, lineage) cost each approval six statements.
  const v = await rt.runAs(scope, () => rt.services.models.authors(ref));
  if (v.authors.includes(scope.actor.id))
    await deny(
      rt,
      scope,
      id,
      `${scope.actor.id} trained or registered ${v.ref} and may not ${id === 'models.approve' ? 'approve it' : 'move a protected alias to it'}`,
      m,
    );
  if (id !== 'models.rollback') input.body.ref = v.ref;
  else if (input.body.expect === undefined || input.body.expect === v.ref) input.body.expect = v.ref;
  // The caller expects another version than the one checked: the alias moved since they looked.
  else {
    const e = new CairnError('ALIAS_MOVED', `the rollback would return to ${v.ref}, not ${String(input.body.expect)}`);
    await record(rt, scope, {
      draft: { action: 'server.denied', target: { type: 'api', name: id }, params: { status: e.httpStatus } },
      outcome: 'denied',
      reason: `ALIAS_MOVED: ${e.message}`,
    });
    throw e;
  }
}

/**
 * The version an alias move would put live: the ref of a promotion or deployment, the version
 * a rollback returns to (found as the rollback finds it), none for a removal; for an approval,
 * the version approved.
 */
async function destination(rt: ServerRuntime, id: OperationId, input: HandlerInput): Promise<string | null> {
  if (id === 'models.promote' || id === 'deployments.deploy' || id === 'models.approve') return String(input.body.ref);
  if (id !== 'models.rollback') return null;
  const name = String(input.params.name);
  const h = (await rt.services.models.history(name, { alias: String(input.params.alias) })) as {
    events?: Array<{ version: string | null; previous: string | null }>;
  };
  const moves = [...(h.events ?? [])].reverse();
  const last = moves[0];
  return moves.find((e) => e.previous && e.previous !== last?.version)?.previous ?? null;
}

export { scrubSecrets };

/**
 * Writes with an Idempotency-Key run at most once per (identity, key): a retry gets the first
 * answer; the same key with a different request is refused.
 */
async function idempotent(
  rt: ServerRuntime,
  req: FastifyRequest,
  reply: FastifyReply,
  { who, id, scope }: { who: Authenticated; id: OperationId; scope: RequestScope },
  run: (scope?: RequestScope) => Promise<unknown>,
): Promise<unknown> {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) return run();
  if (key.length > 200) throw new CairnError('USAGE', 'the Idempotency-Key header is longer than 200 characters');
  const digest = createHash('sha256')
    .update(canonicalJson({ m: req.method, u: req.url, b: req.body ?? null }))
    .digest('hex');
  const principal = who.principal.name;
  const claim = await rt.idempotency.claim(principal, key, digest);
  if (claim.state === 'conflict')
    throw new CairnError('IDEMPOTENCY_CONFLICT', `the Idempotency-Key ${key} was used for a different request`);
  if (claim.state === 'busy')
    // `running`: the client's own retry overtook its first attempt; it waits and asks again, at
    // least until `retryAfterMs` (when the process running it could be known dead) has passed.
    throw new CairnError('IDEMPOTENCY_CONFLICT', `a request with Idempotency-Key ${key} is still running`, {
      hint:
        claim.retryAfterMs === undefined
          ? 'retry in a moment'
          : `retry with the same Idempotency-Key after ${Math.ceil(claim.retryAfterMs / 1000)} s`,
      data: { running: true, ...(claim.retryAfterMs === undefined ? {} : { retryAfterMs: claim.retryAfterMs }) },
    });
  if (claim.state === 'lost') {
    const e = new CairnError(
      'IDEMPOTENCY_CONFLICT',
      `the request with Idempotency-Key ${key} took effect (audit event ${claim.index}) but the server stopped before answering`,
      { hint: `its effect stands; see cairn audit show ${claim.index}`, data: { event: claim.index } },
    );
    await rt.idempotency.complete(principal, key, e.httpStatus, JSON.stringify({ error: e.toJSON() }));
    throw e;
  }
  if (claim.state === 'done') {
    reply.header('idempotent-replay', 'true');
    const first = JSON.parse(claim.response) as unknown;
    if (id === 'tokens.create' && claim.status === 200) throw secretShownOnce(first as { id?: string });
    reply.code(claim.status);
    return first;
  }
  try {
    let effect: number | undefined;
    // The claim is marked committed in the write's own transaction, so a crash cannot leave it ambiguous.
    const out = await run({
      ...scope,
      inCommit: (tx, index) => {
        effect = index;
        return rt.idempotency.committed(tx, principal, key, index);
      },
    });
    // A token's secret is shown once and stored nowhere: the replayable answer leaves it out.
    const kept = JSON.stringify((id === 'tokens.create' ? { ...(out as object), token: null } : out) ?? null);
    // The write took effect: its answer goes back even if keeping it fails now (the database just
    // went away); it is kept as soon as the database answers again.
    if (kept.length <= KEPT_ANSWER_LIMIT) keepAnswer(rt, principal, key, 200, kept);
    // Too large to keep (a release's bundle): a retry is told where its effect is, as after a crash.
    else if (effect !== undefined)
      keepAnswer(rt, principal, key, 409, JSON.stringify({ error: tooLargeToKeep(key, effect).toJSON() }));
    // Nothing took effect (a check): a retry simply runs it again.
    else await rt.idempotency.release(principal, key);
    return out;
  } catch (err) {
    const e = toCairnError(err);
    // Not an answer: the client retries, and the retry runs it (or learns it committed).
    if (e.code === 'SERVER_UNAVAILABLE') {
      rt.idempotency.abandon(principal, key);
      throw e;
    }
    // A refusal is an answer too: a retry must not turn a denied promotion into a second attempt.
    await rt.idempotency.complete(principal, key, e.httpStatus, JSON.stringify({ error: e.toJSON() }));
    throw e;
  }
}

/**
 * The largest answer kept for replays. Writes answer a few kilobytes; a release answers its whole
 * bundle (the model's files), which kept per key would fill the metadata database.
 */
const KEPT_ANSWER_LIMIT = 256 * 1024;

function tooLargeToKeep(key: string, index: number): CairnError {
  return new CairnError(
    'IDEMPOTENCY_CONFLICT',
    `the request with Idempotency-Key ${key} took effect (audit event ${index}); its answer was too large to keep for a retry`,
    { hint: `its effect stands; see cairn audit show ${index}`, data: { event: index } },
  );
}

function keepAnswer(rt: ServerRuntime, principal: string, key: string, status: number, response: string): void {
  const attempt = (n: number): void => {
    rt.idempotency.complete(principal, key, status, response).catch(() => {
      if (n < 20) setTimeout(() => attempt(n + 1), Math.min(5_000, 100 * 2 ** n)).unref();
    });
  };
  attempt(0);
}

function secretShownOnce(first: { id?: string }): CairnError {
  return new CairnError(
    'IDEMPOTENCY_CONFLICT',
    `token ${first.id} was issued by the first request with this Idempotency-Key; its secret was shown once and is not kept`,
    { hint: `if that answer was lost, revoke ${first.id} and create another`, data: { token: first.id } },
  );
}

/** The audit bundle; for a caller who is not an admin, with what they may not see left as leaf hashes. */
async function bundle(rt: ServerRuntime, reader?: Reader, scope?: RequestScope): Promise<unknown> {
  return inTempFolder('cairn-bundle-', async (dir) => {
    await rt.services.audit.export(dir);
    const files = await filesOf(dir, 'utf8');
    if (!reader || reader.wholeLog || scope === undefined || files['entries.jsonl'] === undefined) return { files };
    const { text } = await redactEntries(rt, scope, reader, files['entries.jsonl']);
    return { files: { ...files, 'entries.jsonl': text } };
  });
}

function scopeOf(req: FastifyRequest, actor: RequestScope['actor'], id: OperationId): ServedScope {
  const ua = req.headers['user-agent'];
  return {
    actor,
    onEvent: countEvents(req),
    ...(req.guard ? { guard: req.guard } : {}),
    command: `api ${id}`,
    ...(typeof ua === 'string' ? { client: scrubSecrets(ua).slice(0, 200) } : {}),
  };
}

function sendError(reply: FastifyReply, e: CairnError) {
  const wait = e.data?.retryAfterSeconds;
  if (typeof wait === 'number') reply.header('retry-after', String(Math.ceil(wait)));
  return reply.code(e.httpStatus).send({ error: e.toJSON() });
}

/** Every failure leaves as a stable code: Fastify's own (bad JSON, size, validation) mapped here. */
function toCairnError(err: unknown): CairnError {
  if (databaseUnreachable(err))
    return new CairnError('SERVER_UNAVAILABLE', 'the server lost its database connection; try again', {
      cause: err,
      hint: 'clients retry this by themselves (writes carry an Idempotency-Key, so nothing is done twice)',
    });
  if (isCairnError(err)) return err;
  const f = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (f.validation) return new CairnError('USAGE', `invalid request: ${f.message}`);
  const byStatus: Record<number, ErrorCode> = { 413: 'PAYLOAD_TOO_LARGE', 415: 'USAGE', 400: 'USAGE' };
  const code = f.statusCode ? byStatus[f.statusCode] : undefined;
  if (code) return new CairnError(code, f.message ?? 'bad request');
  return new CairnError('INTERNAL', f.message ?? String(err), { cause: err });
}

// Connection-level failures (refused, reset, terminated by a restart, "cannot connect now"): the
// request may be retried, so they leave as 503 rather than 500. SQLSTATE classes 08 and 57P.
const UNREACHABLE = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|08\d{3}|57P0[1-3])$/;

function databaseUnreachable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (isCairnError(e) && !['INTERNAL', 'DB_ERROR'].includes(e.code)) return false;
    if (typeof e.code === 'string' && UNREACHABLE.test(e.code)) return true;
    if (
      typeof e.message === 'string' &&
      /Connection terminated|is not queryable|connect ECONNREFUSED|the database system is (starting up|shutting down)/.test(
        e.message,
      )
    )
      return true;
    e = e.cause as typeof e;
  }
  return false;
}
