import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CairnError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * Nothing the page loads comes from elsewhere, and nothing it shows can run as script: data is
 * escaped by the renderer, and this policy stops what escaping would miss.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Where `npm run build` puts the web UI (shipped in the package), or null before a build. */
export function findUiDir(): string | null {
  const dir = join(packageRoot(), 'dist', 'ui');
  return existsSync(join(dir, 'index.html')) ? dir : null;
}

/**
 * The web UI: hashed assets under /assets (cached for a year, immutable: a new build has new
 * names), and index.html (never cached) for every page route, so a shared link like
 * /runs/compare?ids=… opens the same page. Read once at start: the files never change under a
 * running server.
 */
export function mountUi(app: FastifyInstance, dir: string): void {
  const index = readFileSync(join(dir, 'index.html'));
  const assets = new Map<string, Buffer>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) for (const f of readdirSync(assetDir)) assets.set(f, readFileSync(join(assetDir, f)));
  const sendIndex = (reply: FastifyReply) =>
    reply
      .headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' })
      .type('text/html; charset=utf-8')
      .send(index);
  app.get('/assets/:file', async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const body = assets.get(file);
    if (!body) throw new CairnError('NOT_FOUND', `no UI asset ${file}`);
    return reply
      .headers({ ...SECURITY_HEADERS, 'cache-control': 'public, max-age=31536000, immutable' })
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .send(body);
  });
  app.get('/', async (_req, reply) => sendIndex(reply));
  // Page routes: the UI's router draws them (an unknown one as its own "not found" page).
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    // The server's own not-found answer, which records the probe.
    if (/^\/(api|auth|assets)(\/|$)/.test(path)) return reply.callNotFound();
    return sendIndex(reply);
  });
}
