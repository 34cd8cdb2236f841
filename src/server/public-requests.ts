import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_PREFIX } from '../app/remote/contract.js';
import type { ServerRuntime } from '../app/server.js';
import { CairnError } from '../core/errors.js';
import { scrubSecrets } from './secret-shapes.js';

/**
 * The routes that take no Cairn credential yet are audit events like every other request:
 * `/metrics` (which says how busy the server is, and with `--metrics-token` is refused without
 * it) and the sign-in configuration. `/healthz` and `/readyz` are not: an orchestrator's probes
 * every few seconds would bury the log, and their answer is one bit. Their events name the peer
 * address (the only "who" an anonymous request has) by its keyed pseudonym, never in the clear:
 * an address is personal data and the log cannot forget (DESIGN §6). They go through the same group commit as
 * every read, so a scraper costs one row per scrape and no transaction of its own.
 */
export const LOGGED_PUBLIC_ROUTES: ReadonlyMap<string, string> = new Map([
  ['/metrics', 'metrics'],
  [`${API_PREFIX}/auth/config`, 'auth.config'],
  [`${API_PREFIX}/openapi.json`, 'openapi'],
]);

/** Records each answer of a logged public route before it leaves, as anonymous, with its peer. */
export function logPublicRequests(app: FastifyInstance, rt: ServerRuntime): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const name = LOGGED_PUBLIC_ROUTES.get(req.routeOptions.url ?? '');
    if (name === undefined) return payload;
    const status = reply.statusCode;
    const ua = req.headers['user-agent'];
    const recorded = rt.recordRequest({
      draft: {
        action: status >= 400 ? 'server.denied' : 'server.read',
        target: { type: 'api', name },
        params: { status, peer: rt.peerPseudonym(peerOf(req)) },
      },
      outcome: status === 401 || status === 403 ? 'denied' : status >= 400 ? 'failed' : 'ok',
      ...(status === 401 ? { reason: 'UNAUTHENTICATED: no or a wrong metrics token' } : {}),
      context: rt.contextFor({
        actor: { id: 'anonymous', auth: 'none' },
        command: `api ${name}`,
        ...(typeof ua === 'string' ? { client: scrubSecrets(ua).slice(0, 200) } : {}),
      }),
    });
    // Not answered unrecorded: when the log cannot be written, the answer is that (in the API's shape).
    return recorded.then(
      () => payload,
      () => {
        void reply.code(503).type('application/json; charset=utf-8');
        const e = new CairnError('SERVER_UNAVAILABLE', 'the server cannot write its audit log now; try again');
        return JSON.stringify({ error: e.toJSON() });
      },
    );
  });
}

function peerOf(req: FastifyRequest): string {
  return (req.socket.remoteAddress ?? 'unknown').slice(0, 64);
}

/** `--metrics-token`: /metrics answers only `Authorization: Bearer <token>`; throws UNAUTHENTICATED. */
export function checkMetricsToken(req: FastifyRequest, token: string | undefined): void {
  if (token === undefined) return;
  const offered = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(offered);
  const b = Buffer.from(token);
  if (a.length === b.length && timingSafeEqual(a, b)) return;
  throw new CairnError('UNAUTHENTICATED', '/metrics needs its token (Authorization: Bearer <metrics token>)', {
    hint: 'the token is the one in the file given to cairn server start --metrics-token-file',
  });
}
