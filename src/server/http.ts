import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { API_PREFIX, operations, type Operation, type OperationId } from '../app/remote/contract.js';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import { CairnError, isCairnError, type ErrorCode } from '../core/errors.js';
import { canonicalJson } from '../core/canonical-json.js';
import type { Authenticated, Role } from '../identity/index.js';
import { handlers } from './handlers.js';
import { ServerMetrics } from './metrics.js';
import { bodySchema, openApiDocument, querySchema } from './openapi.js';
import { mountStoreRoutes } from './store-routes.js';

export interface HttpOptions {
  /** Largest request body accepted (default 1 MiB): metadata only, bulk bytes go to the store. */
  bodyLimit?: number;
  /** Aliases only approvers may move, and never onto a version they trained or registered. */
  protectedAliases?: readonly string[];
  /** Other bearer credentials (OpenID Connect access tokens): an identity, or null when not one. */
  verifyBearer?: (token: string) => Promise<Authenticated | null>;
  /** A request without a bearer token: the identity its session cookie stands for, or null when it has none. */
  verifyRequest?: (req: FastifyRequest) => Promise<Authenticated | null>;
}

declare module 'fastify' {
  interface FastifyRequest {
    who?: Authenticated;
  }
}

const ANONYMOUS = { id: 'anonymous', auth: 'none' } as const;

/** The HTTP shell of the team server: routes from the contract, authentication, roles, audit of every request. */
export async function createHttpServer(rt: ServerRuntime, opts: HttpOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
  });
  const metrics = new ServerMetrics();
  const protectedAliases = new Set(opts.protectedAliases ?? ['production']);
  app.setErrorHandler((err, req, reply) => sendError(reply, toCairnError(err)));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new CairnError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) =>
    (await rt.ready()) ? { ready: true } : reply.code(503).send({ ready: false }),
  );
  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4');
    return metrics.render({});
  });
  app.get(`${API_PREFIX}/openapi.json`, async () => openApiDocument());
  for (const [id, op] of Object.entries(operations) as Array<[OperationId, Operation]>) {
    app.route({
      method: op.method,
      url: API_PREFIX + op.path,
      ...(op.bodyLimit ? { bodyLimit: op.bodyLimit } : {}),
      schema: {
        ...(op.params ? { params: { type: 'object', properties: op.params, additionalProperties: false } } : {}),
        querystring: querySchema(op),
        ...(op.body ? { body: bodySchema(op) } : {}),
      },
      onRequest: async (req) => {
        req.who = await authenticate(rt, req, id, opts, metrics);
      },
      handler: async (req, reply) => {
        const started = performance.now();
        try {
          const out = await serve(rt, id, op, req, reply, protectedAliases, metrics);
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
  mountStoreRoutes(app, rt, (req, id) => authenticate(rt, req, id, opts, metrics));
  return app;
}

async function authenticate(
  rt: ServerRuntime,
  req: FastifyRequest,
  id: OperationId | string,
  opts: HttpOptions,
  metrics: ServerMetrics,
): Promise<Authenticated> {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  try {
    const viaSession = !m && opts.verifyRequest ? await opts.verifyRequest(req) : null;
    if (viaSession) return viaSession;
    if (!m) throw new CairnError('UNAUTHENTICATED', 'this request needs a credential (Authorization: Bearer <token>)');
    const token = m[1]!;
    if (token.startsWith('cairn_')) return await rt.identity.authenticate(token);
    const other = opts.verifyBearer ? await opts.verifyBearer(token) : null;
    if (!other)
      throw new CairnError('UNAUTHENTICATED', 'the credential is not a Cairn API token or a valid OpenID token');
    return other;
  } catch (err) {
    const e = toCairnError(err);
    metrics.denied('unauthenticated');
    await rt.recordRequest({
      draft: {
        action: 'server.denied',
        target: { type: 'api', name: id },
        params: { status: 401, ...credentialOf(e) },
      },
      outcome: 'denied',
      reason: `${e.code}: ${e.message}`,
      context: rt.contextFor(scopeOf(req, ANONYMOUS, id as OperationId)),
    });
    throw e;
  }
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
  // Fastify's parsed objects have no prototype; events and services take plain JSON.
  const input = {
    params: { ...(req.params as Record<string, string>) },
    query: { ...(req.query as Record<string, string>) },
    body: { ...(req.body as Record<string, unknown>) },
    principal: who.principal,
  };
  const scope = scopeOf(req, who.actor, id);
  const alias = String(input.body.alias ?? input.params.alias ?? '');
  const guarded = ALIAS_MOVES.has(id) && protectedAliases.has(alias);
  const need: Role = guarded ? 'approver' : op.role;
  const project = typeof input.query.project === 'string' ? input.query.project : 'default';
  const decision = await rt.identity.authorize(who.principal, need, project);
  if (!decision.allowed) await deny(rt, scope, id, decision.reason, metrics);
  if (guarded && id === 'models.promote') await separateDuties(rt, scope, id, String(input.body.ref), metrics);
  if (id === 'audit.bundle') return rt.runAs(scope, () => bundle(rt));
  const run = () => rt.runAs(scope, () => handlers[id](rt.services, input, rt));
  if (op.method === 'GET') {
    const out = await run();
    if (id !== 'audit.checkpoint')
      await rt.recordRequest({
        draft: {
          action: 'server.read',
          target: { type: 'api', name: id },
          params: { query: input.query, ...input.params },
        },
        outcome: 'ok',
        context: rt.contextFor(scope),
      });
    return out;
  }
  return idempotent(rt, req, reply, who, run);
}

/** The operations that move an alias: on a protected alias they need an approver. */
const ALIAS_MOVES = new Set<OperationId>(['models.promote', 'models.removeAlias', 'models.rollback']);

async function deny(rt: ServerRuntime, scope: RequestScope, id: OperationId, reason: string, metrics: ServerMetrics) {
  metrics.denied('forbidden');
  await rt.recordRequest({
    draft: { action: 'server.denied', target: { type: 'api', name: id }, params: { status: 403 } },
    outcome: 'denied',
    reason: `PERMISSION_DENIED: ${reason}`,
    context: rt.contextFor(scope),
  });
  throw new CairnError('PERMISSION_DENIED', reason, { hint: 'ask a server admin for a grant (cairn server grant)' });
}

/** A protected alias never moves onto a version by the hand of whoever trained or registered it. */
async function separateDuties(rt: ServerRuntime, scope: RequestScope, id: OperationId, ref: string, m: ServerMetrics) {
  const v = await rt.runAs(scope, () => rt.services.models.show(ref));
  if (v.authors.includes(scope.actor.id))
    await deny(
      rt,
      scope,
      id,
      `${scope.actor.id} trained or registered ${v.ref} and may not move a protected alias to it`,
      m,
    );
}

/**
 * Writes with an Idempotency-Key run at most once per (identity, key): a retry gets the first
 * answer; the same key with a different request is refused.
 */
async function idempotent(
  rt: ServerRuntime,
  req: FastifyRequest,
  reply: FastifyReply,
  who: Authenticated,
  run: () => Promise<unknown>,
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
    throw new CairnError('IDEMPOTENCY_CONFLICT', `a request with Idempotency-Key ${key} is still running`, {
      hint: 'retry in a moment',
    });
  if (claim.state === 'done') {
    reply.header('idempotent-replay', 'true');
    reply.code(claim.status);
    return JSON.parse(claim.response);
  }
  try {
    const out = await run();
    await rt.idempotency.complete(principal, key, 200, JSON.stringify(out ?? null));
    return out;
  } catch (err) {
    const e = toCairnError(err);
    // A refusal is an answer too: a retry must not turn a denied promotion into a second attempt.
    await rt.idempotency.complete(principal, key, e.httpStatus, JSON.stringify({ error: e.toJSON() }));
    throw e;
  }
}

async function bundle(rt: ServerRuntime): Promise<unknown> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-bundle-'));
  try {
    await rm(dir, { recursive: true });
    await rt.services.audit.export(dir);
    const files: Record<string, string> = {};
    for (const f of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!f.isFile()) continue;
      const full = join(f.parentPath, f.name);
      files[relative(dir, full)] = await readFile(full, 'utf8');
    }
    return { files };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function scopeOf(req: FastifyRequest, actor: RequestScope['actor'], id: OperationId): RequestScope {
  const ua = req.headers['user-agent'];
  return { actor, command: `api ${id}`, ...(typeof ua === 'string' ? { client: ua.slice(0, 200) } : {}) };
}

function sendError(reply: FastifyReply, e: CairnError) {
  return reply.code(e.httpStatus).send({ error: e.toJSON() });
}

/** Every failure leaves as a stable code: Fastify's own (bad JSON, size, validation) mapped here. */
function toCairnError(err: unknown): CairnError {
  if (isCairnError(err)) return err;
  const f = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (f.validation) return new CairnError('USAGE', `invalid request: ${f.message}`);
  const byStatus: Record<number, ErrorCode> = { 413: 'PAYLOAD_TOO_LARGE', 415: 'USAGE', 400: 'USAGE' };
  const code = f.statusCode ? byStatus[f.statusCode] : undefined;
  if (code) return new CairnError(code, f.message ?? 'bad request');
  return new CairnError('INTERNAL', f.message ?? String(err), { cause: err });
}
