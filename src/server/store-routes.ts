import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerRuntime } from '../app/server.js';
import { STORE_ROUTE } from '../app/server-store.js';
import { CairnError } from '../core/errors.js';
import type { Authenticated, Role } from '../identity/index.js';
import { record, recordPoisoned, storeOf, storeReader } from './store-handlers.js';
import { readObjectAs } from './store-scope.js';
import { scrubSecrets } from './secret-shapes.js';
import { countEvents } from './request-events.js';
import { Readable } from 'node:stream';
import type { StoredObject } from '../app/store-object-stream.js';
import { BodyBudget, type AccountShare } from './body-budget.js';
import { DEFAULT_BODY_TIMEOUTS, guardBody, type BodyTimeouts } from './body-timeouts.js';

/** Largest pack streamed through the server (folder stores); S3 stores never stream through it. */
export const STREAM_LIMIT = 1024 * 1024 * 1024;

type Authenticate = (req: FastifyRequest, id: string) => Promise<Authenticated>;

/** The routes whose bodies are bytes (they guard their bodies' timing themselves, after the budget). */
export const BYTE_ROUTES: ReadonlySet<string> = new Set([`${STORE_ROUTE}/uploads/:id`, `${STORE_ROUTE}/objects/*`]);

/** The request bodies the byte routes hold in memory at once, by default (docs/SERVER.md "Data plane"). */
export const UPLOAD_MEMORY = 512 * 1024 * 1024;

/**
 * The byte routes of the data plane, beside the JSON contract: a planned pack streamed to a
 * folder store, and the layout's small objects (state, audit bundles) read and written through
 * the server. Authenticated before the body is read; every request is an audit event.
 */
export function mountStoreRoutes(
  app: FastifyInstance,
  rt: ServerRuntime,
  authenticate: Authenticate,
  uploadMemory = UPLOAD_MEMORY,
  timeouts: BodyTimeouts = DEFAULT_BODY_TIMEOUTS,
  share: Partial<AccountShare> = {},
): void {
  app.register(async (scope) => {
    scope.addHook('preParsing', heldBodies(new BodyBudget(uploadMemory, share), timeouts));
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: STREAM_LIMIT }, (_r, b, d) =>
      d(null, b),
    );
    const guard = (id: string, role: Role) => async (req: FastifyRequest) => {
      req.who = await authenticate(req, id);
      const d = await rt.identity.authorize(req.who.principal, role, 'default');
      if (!d.allowed) {
        await rt.recordRequest({
          draft: { action: 'server.denied', target: { type: 'api', name: id }, params: { status: 403 } },
          outcome: 'denied',
          reason: `PERMISSION_DENIED: ${d.reason}`,
          context: rt.contextFor(scopeOf(req, id)),
        });
        throw new CairnError('PERMISSION_DENIED', d.reason, { hint: 'ask a server admin for a grant' });
      }
    };
    scope.put(
      `${STORE_ROUTE}/uploads/:id`,
      { onRequest: guard('store.upload', 'contributor'), bodyLimit: STREAM_LIMIT },
      async (req) => {
        const id = (req.params as { id: string }).id;
        const body = bodyOf(req.body);
        return rt.runAs(scopeOf(req, 'store.upload'), async () => {
          try {
            const done = await storeOf(rt).receive(req.who!.principal.name, id, body);
            await recordPoisoned(rt, [done]);
            await record(rt, 'server.store.write', { upload: id, bytes: body.length });
          } catch (err) {
            await record(rt, 'server.store.write', { upload: id, bytes: body.length }, err);
            throw err;
          }
          return { stored: true, bytes: body.length };
        });
      },
    );
    scope.get(`${STORE_ROUTE}/objects/*`, { onRequest: guard('store.get', 'viewer') }, async (req, reply) => {
      const key = (req.params as { '*': string })['*'];
      // Packs, the state and pushed logs as the caller may read them (store-scope.ts).
      const scope = scopeOf(req, 'store.get');
      const body = await rt.runAs(scope, async () =>
        readObjectAs(rt, storeOf(rt), await storeReader(rt, req.who!.principal), key, scope),
      );
      await rt.recordRequest({
        draft: {
          action: 'server.read',
          target: { type: 'api', name: 'store.get' },
          params: { key: scrubSecrets(key) },
        },
        outcome: 'ok',
        context: rt.contextFor(scopeOf(req, 'store.get')),
      });
      return answerOf(reply, body);
    });
    scope.put(
      `${STORE_ROUTE}/objects/*`,
      { onRequest: guard('store.put', 'contributor'), bodyLimit: 256 * 1024 * 1024 },
      async (req) => {
        const key = (req.params as { '*': string })['*'];
        const body = bodyOf(req.body);
        return rt.runAs(scopeOf(req, 'store.put'), async () => {
          await storeOf(rt).writeObject(req.who!.principal.name, key, body);
          await record(rt, 'server.store.write', { key, bytes: body.length });
          return { stored: true, bytes: body.length };
        });
      },
    );
  });
}

/**
 * After authentication, before the body is read: a PUT waits, unread, for its share of the
 * memory the byte routes may hold (its declared size, or the route's limit without one). The
 * body's clock starts once it has its share: waiting for one is not stalling.
 */
function heldBodies(budget: BodyBudget, timeouts: BodyTimeouts) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: Readable) => {
    if (req.method !== 'PUT') return payload;
    const declared = Number(req.headers['content-length']);
    const release = await budget
      .take(Number.isSafeInteger(declared) ? declared : STREAM_LIMIT, req.who?.principal.name ?? '')
      .catch((err: unknown) => {
        // Refused unread: the body is not taken for the next request on this connection.
        reply.raw.setHeader('connection', 'close');
        throw err;
      });
    reply.raw.once('close', release);
    // A sender that went away while it waited: its response closed before anyone listened.
    if (reply.raw.destroyed || req.raw.socket.destroyed) release();
    return guardBody(req, reply, payload, timeouts);
  };
}

/** An object's answer: streamed objects with their length, so a reader whose answer ends short of it knows it was cut off. */
function answerOf(reply: FastifyReply, body: Buffer | Readable | StoredObject): Buffer | Readable {
  reply.type('application/octet-stream');
  if (Buffer.isBuffer(body) || body instanceof Readable) return body;
  reply.header('content-length', String(body.size));
  return body.body;
}

function bodyOf(b: unknown): Buffer {
  if (!Buffer.isBuffer(b)) throw new CairnError('USAGE', 'send the bytes with Content-Type: application/octet-stream');
  return b;
}

function scopeOf(req: FastifyRequest, id: string) {
  const ua = req.headers['user-agent'];
  return {
    actor: req.who?.actor ?? { id: 'anonymous', auth: 'none' as const },
    command: `api ${id}`,
    onEvent: countEvents(req),
    // A token pasted into the User-Agent is named, never kept (as on the JSON routes).
    ...(typeof ua === 'string' ? { client: scrubSecrets(ua).slice(0, 200) } : {}),
  };
}
