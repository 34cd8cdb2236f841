import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_PREFIX } from '../app/remote/contract.js';
import type { AuthConfig, Oidc } from '../app/oidc/index.js';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import { CairnError, isCairnError } from '../core/errors.js';
import type { Authenticated } from '../identity/index.js';

export const SESSION_COOKIE = 'cairn_session';
const STATE_COOKIE = 'cairn_oidc_state';
/** A write made with the session cookie must carry this header: a cross-site form cannot set it. */
export const CSRF_HEADER = 'x-cairn-csrf';

export interface AuthRouteOptions {
  /** The server's public base URL (behind a proxy); default: the scheme and Host of the request. */
  publicUrl?: string;
}

/**
 * Sign-in routes outside the authenticated API: `GET /api/v1/auth/config` (which provider to use,
 * public), and with OpenID Connect the browser's `GET /auth/login` → provider → `GET
 * /auth/callback` → session cookie, and `POST /auth/logout`.
 */
export function mountAuthRoutes(
  app: FastifyInstance,
  rt: ServerRuntime,
  oidc: Oidc | null,
  opts: AuthRouteOptions = {},
) {
  const config: AuthConfig = oidc?.config ?? { oidc: null };
  app.get(`${API_PREFIX}/auth/config`, async () => config);
  if (!oidc) return;
  app.get('/auth/login', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const base = baseUrl(req, opts);
    // The cookie carries the whole sign-in in progress, sealed: the server keeps nothing of it.
    const started = await oidc.browser.start(`${base}/auth/callback`, safeReturn(q.return_to));
    reply.header('set-cookie', cookie(STATE_COOKIE, started.cookie, base, 600, '/auth/callback'));
    reply.header('cache-control', 'no-store');
    return reply.redirect(started.location, 302);
  });
  app.get('/auth/callback', async (req, reply) => {
    const q = { ...(req.query as Record<string, string | undefined>) };
    const base = baseUrl(req, opts);
    try {
      const r = await oidc.browser.finish(q, cookies(req)[STATE_COOKIE]);
      await rt.recordRequest({
        draft: { action: 'server.signin', target: { type: 'api', name: 'auth.callback' } },
        outcome: 'ok',
        context: rt.contextFor(scope(req, r.who.actor)),
      });
      const maxAge = Math.floor(oidc.browser.sessionTtlMs / 1000);
      reply.header('set-cookie', [
        cookie(SESSION_COOKIE, r.sessionId, base, maxAge, '/'),
        cookie(STATE_COOKIE, '', base, 0, '/auth/callback'),
      ]);
      reply.header('cache-control', 'no-store');
      return reply.redirect(r.returnTo, 302);
    } catch (err) {
      const e = isCairnError(err) ? err : new CairnError('INTERNAL', (err as Error).message, { cause: err });
      await rt.recordRequest({
        draft: {
          action: 'server.denied',
          target: { type: 'api', name: 'auth.callback' },
          params: { status: e.httpStatus },
        },
        outcome: 'denied',
        reason: `${e.code}: ${e.message}`,
        context: rt.contextFor(scope(req, { id: 'anonymous', auth: 'none' })),
      });
      throw e;
    }
  });
  app.post('/auth/logout', async (req, reply) => {
    const id = cookies(req)[SESSION_COOKIE];
    const ended = id ? await oidc.browser.end(id) : false;
    reply.header('set-cookie', cookie(SESSION_COOKIE, '', baseUrl(req, opts), 0, '/'));
    return { signedOut: ended };
  });
}

/** The identity of a request that carries the session cookie instead of a bearer token (null: no cookie). */
export function sessionAuthenticator(oidc: Oidc) {
  return async (req: FastifyRequest): Promise<Authenticated | null> => {
    const id = cookies(req)[SESSION_COOKIE];
    if (!id) return null;
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[CSRF_HEADER] === undefined)
      throw new CairnError(
        'UNAUTHENTICATED',
        `a write signed in by the session cookie needs the ${CSRF_HEADER} header`,
      );
    const who = await oidc.browser.fromSession(id);
    if (!who)
      throw new CairnError('UNAUTHENTICATED', 'the browser session is unknown or expired', {
        hint: 'sign in at /auth/login',
      });
    return who;
  };
}

function scope(req: FastifyRequest, actor: RequestScope['actor']): RequestScope {
  const ua = req.headers['user-agent'];
  return { actor, command: 'auth', ...(typeof ua === 'string' ? { client: ua.slice(0, 200) } : {}) };
}

/**
 * Only a path on this server: never an absolute URL or `//host` (an open redirect). Browsers drop
 * tabs and newlines inside a URL and read a backslash as a slash, so `/\t/evil.example` would leave the site:
 * whitespace, control characters and backslashes are refused outright, and what remains must
 * resolve to this origin.
 */
export function safeReturn(s: string | undefined): string {
  if (!s || s.length > 2048 || !s.startsWith('/') || /[\s\\]/.test(s)) return '/';
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20 || s.charCodeAt(i) === 0x7f) return '/';
  try {
    const probe = 'https://cairn.invalid';
    return new URL(s, probe).origin === probe ? s : '/';
  } catch {
    return '/';
  }
}

function baseUrl(req: FastifyRequest, opts: AuthRouteOptions): string {
  return (opts.publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');
}

/** HttpOnly, SameSite=Lax, Secure when the server is reached over https. */
function cookie(name: string, value: string, base: string, maxAgeS: number, path: string): string {
  const secure = base.startsWith('https:') ? '; Secure' : '';
  return `${name}=${value}; Max-Age=${maxAgeS}; Path=${path}; HttpOnly; SameSite=Lax${secure}`;
}

export function cookies(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
