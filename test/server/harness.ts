/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import type { ChildProcess } from 'node:child_process';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '../../src/audit/event.js';
import { withServices } from '../../src/app/services.js';
import { ApiClient } from '../../src/app/remote/client.js';
import { createRemoteServices } from '../../src/app/remote/services.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { newWorkspace } from '../../src/test-support/workspace.js';
import { dropSchema, freshPgUrl } from '../../src/test-support/services.js';
import { afterAll, beforeAll } from 'vitest';
import type { Role } from '../../src/identity/index.js';
import type { OidcSettings } from '../../src/app/oidc/index.js';
import type { BodyTimeouts } from '../../src/server/body-timeouts.js';
import type { HttpOptions } from '../../src/server/http.js';

export interface Team {
  server: RunningServer;
  dataDir: string;
  tokens: Record<string, string>;
  tokenIds: Record<string, string>;
  call(
    who: string | null,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any; headers: Headers }>;
  /** What a contributor's data plane will do: register a model version from files, as `user`. */
  registerAs(user: string, model: string): Promise<string>;
  /** A dataset version, a run on the server's local backend that trains on it, and a model registered from the run, as `user`. */
  trainAs(user: string, model: string): Promise<string>;
  close(): Promise<void>;
}

/** A server on a free loopback port with accounts: admin, alice (contributor), bob and dana (approvers), carol (viewer). */
export async function startTeam(
  opts: {
    db?: string;
    env?: NodeJS.ProcessEnv;
    roles?: Record<string, Role>;
    oidc?: OidcSettings;
    store?: string;
    storeEndpoint?: string;
    jobUser?: string;
    /** The request bodies the store routes hold in memory at once (bytes). */
    uploadMemory?: number;
    /** How long a request body may stall or take (server/body-timeouts.ts). */
    bodyTimeouts?: Partial<BodyTimeouts>;
    /** How often a browser session's groups are asked for again at the provider (ms). */
    oidcSessionRecheckMs?: number;
    /** Other limits of the HTTP shell (server/http.ts). */
    http?: Pick<HttpOptions, 'uploadAccountShare' | 'writeStallMs' | 'metricsToken'>;
  } = {},
): Promise<Team> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-server-'));
  const server = await startServer({
    listen: '127.0.0.1:0',
    dataDir,
    ...(opts.db ? { db: opts.db } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.storeEndpoint ? { storeEndpoint: opts.storeEndpoint } : {}),
    ...(opts.uploadMemory ? { uploadMemory: opts.uploadMemory } : {}),
    ...(opts.bodyTimeouts ? { bodyTimeouts: opts.bodyTimeouts } : {}),
    ...opts.http,
    ...(opts.oidcSessionRecheckMs ? { oidcSessionRecheckMs: opts.oidcSessionRecheckMs } : {}),
    env: opts.env ?? process.env,
    ...(opts.oidc ? { oidc: opts.oidc } : {}),
    ...(opts.jobUser ? { jobUser: opts.jobUser } : {}),
  });
  const roles: Record<string, Role> = opts.roles ?? {
    admin: 'admin',
    alice: 'contributor',
    bob: 'approver',
    dana: 'approver',
    carol: 'viewer',
  };
  const tokens: Record<string, string> = {};
  const tokenIds: Record<string, string> = {};
  const host: AuditActor = { id: 'host-admin', auth: 'os-user' };
  await server.runtime.runAs({ actor: host, command: 'test setup' }, async () => {
    for (const [name, role] of Object.entries(roles)) {
      await server.runtime.identity.addAccount({ name, role });
      const t = await server.runtime.identity.createToken(name, { expiresInMs: 3_600_000 });
      tokens[name] = t.token;
      tokenIds[name] = t.id;
    }
  });
  const call: Team['call'] = async (who, method, path, body, headers = {}) => {
    const res = await fetch(server.url + path, {
      method,
      headers: {
        ...(who ? { authorization: `Bearer ${tokens[who] ?? who}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json, headers: res.headers };
  };
  let n = 0;
  const registerAs = async (user: string, model: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-model-'));
    writeFileSync(join(dir, 'weights.json'), JSON.stringify({ w: [n++, 2, 3], model }));
    const r = await server.runtime.runAs({ actor: { id: user, auth: 'token' }, command: 'test register' }, () =>
      server.runtime.services.models.register({ name: model, path: dir, format: 'json' }),
    );
    return r.ref;
  };
  const trainAs = async (user: string, model: string) => {
    const rt = server.runtime;
    const scope = { actor: { id: user, auth: 'token' as const }, command: 'test train' };
    const dir = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    writeFileSync(join(dir, 'd.csv'), `x,y\n${n++},0\n`);
    await rt.runAs(scope, () => rt.services.datasets.add({ source: dir, name: `${model}-data` }));
    const spec = join(dataDir, `${model}.yaml`);
    writeFileSync(
      spec,
      `name: ${model}-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: ${model}-data@latest\n`,
    );
    const sub = await rt.runAs(scope, () => rt.services.runs.submit({ spec }));
    const run = await rt.runAs(scope, () => rt.services.runs.wait(sub.run.id, { pollMs: 50 }));
    if (run.status !== 'completed') throw new Error(`training run ended ${run.status}`);
    return (await rt.runAs(scope, () => rt.services.models.register({ name: model, fromRun: run.id }))).ref;
  };
  return { server, dataDir, tokens, tokenIds, call, registerAs, trainAs, close: () => server.close() };
}

/**
 * The client side of a laptop signed in to `t` as `user`: the environment a `cairn` process there
 * runs with (its own config dir, the user's token, the server's pinned key) and a way to call its
 * services, with the server added as remote `team`. `extraEnv` adds to the environment.
 */
export async function signedInLaptop(
  t: Team,
  user: string,
  dir: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ env: NodeJS.ProcessEnv; run: <T>(fn: (s: any) => Promise<T>) => Promise<T> }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(dir, '.config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_ACTOR: `${user}@laptop`,
    CAIRN_TOKEN: t.tokens[user],
    CAIRN_SERVER_KEY: t.server.runtime.verifierKey,
    ...extraEnv,
  };
  const run = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: dir, env }, fn);
  await run((s) => s.transfer.addRemote('team', t.server.url, {}));
  return { env, run };
}

/** A fresh laptop workspace (actor `<user>@laptop`) in a temporary folder, signed in to `t` as `user`. */
export async function newLaptop(
  t: Team,
  user: string,
  prefix = 'cairn-laptop',
): Promise<{ dir: string; env: NodeJS.ProcessEnv; run: <T>(fn: (s: any) => Promise<T>) => Promise<T> }> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-${user}-`));
  const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
  await ws.close();
  return { dir, ...(await signedInLaptop(t, user, dir)) };
}

/**
 * A store object read or written as `who` straight over HTTP (a JSON body), bypassing the client:
 * what a hostile pusher can send the server's store routes.
 */
export async function storeObject(t: Team, who: string, method: 'GET' | 'PUT', key: string, body?: unknown) {
  const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
    method,
    headers: {
      authorization: `Bearer ${t.tokens[who]}`,
      ...(body ? { 'content-type': 'application/octet-stream' } : {}),
    },
    ...(body ? { body: Buffer.from(JSON.stringify(body)) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : null };
}

/**
 * The team of one `describe` in a per-database `describe.each`: started on SQLite, or on a fresh
 * PostgreSQL schema that is dropped afterwards. `set` receives it; the answer says whether to skip
 * (PostgreSQL asked for, and not here).
 */
export function teamPerDatabase(
  usePg: boolean,
  pgUp: boolean,
  start: (db: { db?: string }) => Promise<Team>,
  set: (t: Team) => void,
  timeoutMs?: number,
): () => boolean {
  let team: Team | undefined;
  let schema: string | null = null;
  beforeAll(async () => {
    if (usePg && !pgUp) return;
    const db = usePg ? freshPgUrl() : null;
    schema = db?.schema ?? null;
    team = await start(db ? { db: db.url } : {});
    set(team);
  }, timeoutMs);
  afterAll(async () => {
    await team?.close();
    if (schema) await dropSchema(schema);
  });
  return () => usePg && !pgUp;
}

/** The server as `user` sees it through the CLI's client (no workspace of theirs involved). */
export function servicesAs(t: Team, user: string) {
  return createRemoteServices(new ApiClient({ url: t.server.url, token: t.tokens[user]! }), {
    url: t.server.url,
    token: t.tokens[user]!,
    user,
    verifierKey: t.server.runtime.verifierKey,
    origin: t.server.runtime.origin,
    seen: null,
  });
}

/** The URL a `cairn server start` process says it serves on; rejects with its output if it exits first. */
export function announcedUrl(child: ChildProcess): Promise<string> {
  let out = '';
  return new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (buf: Buffer) => {
      out += buf.toString();
      const m = /Cairn server on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (buf: Buffer) => (out += buf.toString()));
    child.once('exit', (code) => reject(new Error(`cairn server start exited ${code}: ${out}`)));
  });
}

/**
 * A raw PUT to `path` as `who` that declares `declared` bytes and sends no body yet: what holds,
 * trickles into or waits for the server's upload memory. The caller writes (or never writes) the body.
 */
export function declaredPut(
  t: Team,
  who: string,
  path: string,
  declared: number,
  onResponse?: (res: IncomingMessage) => void,
): ClientRequest {
  const url = new URL(t.server.url + path);
  return request(
    {
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'PUT',
      headers: {
        authorization: `Bearer ${t.tokens[who]}`,
        'content-type': 'application/octet-stream',
        'content-length': String(declared),
      },
    },
    onResponse,
  );
}
