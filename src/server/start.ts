import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createOidc, type OidcSettings } from '../app/oidc/index.js';
import { openServer, type ServerRuntime } from '../app/server.js';
import { CairnError } from '../core/errors.js';
import { mountAuthRoutes, sessionAuthenticator } from './auth-routes.js';
import { createHttpServer, type HttpOptions } from './http.js';
import { findUiDir } from './ui-routes.js';

export interface StartOptions extends HttpOptions {
  /** host:port (default 127.0.0.1:8080; port 0 picks a free one). */
  listen?: string;
  dataDir: string;
  db?: string;
  env?: NodeJS.ProcessEnv;
  /** file:///dir or s3://bucket/prefix (docs/SERVER.md "Data plane"). */
  store?: string;
  storeEndpoint?: string;
  /** OpenID Connect sign-in (docs/SERVER.md): bearer ID/access tokens, the CLI's device flow, the browser's code flow. */
  oidc?: OidcSettings | null;
  /** `--job-user`: jobs run as this OS account (the server runs as root). */
  jobUser?: string;
  /** `--allow-root-jobs`: a root server without a job user runs jobs as root. */
  allowRootJobs?: boolean;
  /** The server's public base URL, for the browser sign-in's redirect (default: from each request's Host). */
  publicUrl?: string;
  /** `--oidc-session-recheck`: how often a browser session's groups are asked for again at the provider. */
  oidcSessionRecheckMs?: number;
}

export interface RunningServer {
  url: string;
  runtime: ServerRuntime;
  http: FastifyInstance;
  /** Stops taking requests, finishes the ones in flight, records and signs what they appended. */
  close(): Promise<void>;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:8080');
  const runtime = await openServer({
    dataDir: opts.dataDir,
    ...(opts.db ? { db: opts.db } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.storeEndpoint ? { storeEndpoint: opts.storeEndpoint } : {}),
    ...(opts.jobUser ? { jobUser: opts.jobUser } : {}),
    ...(opts.allowRootJobs ? { allowRootJobs: true } : {}),
  });
  let http: FastifyInstance;
  try {
    const oidc = opts.oidc
      ? createOidc(opts.oidc, runtime.identity, runtime.sessions, opts.oidcSessionRecheckMs)
      : null;
    http = await createHttpServer(runtime, {
      uiDir: findUiDir(),
      ...opts,
      ...(oidc
        ? { verifyBearer: (t) => oidc.verifier.verifyBearer(t), verifyRequest: sessionAuthenticator(oidc) }
        : {}),
    });
    mountAuthRoutes(http, runtime, oidc, opts.publicUrl ? { publicUrl: opts.publicUrl } : {});
    await http.listen({ host, port });
  } catch (err) {
    await runtime.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CairnError('USAGE', `${host}:${port} is in use`, { hint: 'choose another with --listen host:port' });
    throw err;
  }
  const addr = http.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    runtime,
    http,
    close: () =>
      (closing ??= (async () => {
        await http.close();
        await runtime.close();
      })()),
  };
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s) ?? /^()()(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CairnError('USAGE', `--listen takes host:port, not ${JSON.stringify(s)}`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export interface LocalUi {
  url: string;
  /** The secret every request must carry (as a cookie set by `link`, or a bearer token). */
  token: string;
  /** The URL to open: it trades the token for the cookie. */
  link: string;
  workspace: string;
  actor: string;
  runtime: ServerRuntime;
  http: FastifyInstance;
  close(): Promise<void>;
}

/**
 * `cairn ui`: the same HTTP app as the team server over the workspace found from `cwd`/`env`,
 * bound to 127.0.0.1 only, acting as the workspace's own user (docs/UI.md).
 */
export async function startLocalUi(opts: { port: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<LocalUi> {
  const uiDir = findUiDir();
  if (!uiDir)
    throw new CairnError('NOT_FOUND', 'the web UI is not built (no dist/ui/index.html in the Cairn package)', {
      hint: 'run npm run build in the Cairn checkout',
    });
  const runtime = await openServer({ dataDir: opts.cwd ?? process.cwd(), local: true, env: opts.env ?? process.env });
  const token = randomBytes(32).toString('base64url');
  let http: FastifyInstance;
  try {
    http = await createHttpServer(runtime, { local: true, localToken: token, uiDir });
    await http.listen({ host: '127.0.0.1', port: opts.port });
  } catch (err) {
    await runtime.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CairnError('USAGE', `port ${opts.port} is in use`, { hint: 'choose another with --port, or --port 0' });
    throw err;
  }
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    link: `http://127.0.0.1:${port}/?token=${token}`,
    workspace: runtime.root,
    actor: runtime.localActor!.id,
    runtime,
    http,
    close: () =>
      (closing ??= (async () => {
        await http.close();
        await runtime.close();
      })()),
  };
}
