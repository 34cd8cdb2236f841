/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '../../src/audit/event.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import type { Role } from '../../src/identity/index.js';

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
  close(): Promise<void>;
}

/** A server on a free loopback port with accounts: admin, alice (contributor), bob and dana (approvers), carol (viewer). */
export async function startTeam(
  opts: {
    db?: string;
    env?: NodeJS.ProcessEnv;
    roles?: Record<string, Role>;
    store?: string;
    storeEndpoint?: string;
  } = {},
): Promise<Team> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-server-'));
  const server = await startServer({
    listen: '127.0.0.1:0',
    dataDir,
    ...(opts.db ? { db: opts.db } : {}),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.storeEndpoint ? { storeEndpoint: opts.storeEndpoint } : {}),
    env: opts.env ?? process.env,
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
  return { server, dataDir, tokens, tokenIds, call, registerAs, close: () => server.close() };
}
