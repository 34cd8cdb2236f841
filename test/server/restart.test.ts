/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings, type OidcSettings } from '../../src/app/oidc/index.js';
import { openMetaStore } from '../../src/meta/open.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { browse, startIdp, type TestIdp } from './idp.js';
import { startTeam, type Team } from './harness.js';

// Upload plans and browser sessions are kept in the metadata database (migration 0012): a server
// restart keeps them, and they stay single-use, expiring and revocable. On SQLite and PostgreSQL.

const pg = await postgresAvailable();
const dialects = [{ name: 'sqlite' }, ...(pg ? [{ name: 'postgres' }] : [])];
const people = { 'u-2001': { preferred_username: 'erin', email: 'erin@example.com', groups: ['ml'] } };

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp(people);
});
afterAll(async () => {
  await idp?.close();
});

const open: Array<{ close(): Promise<void> }> = [];
const schemas: string[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close().catch(() => {});
  for (const s of schemas.splice(0)) await dropSchema(s).catch(() => {});
});

async function team(dialect: string, oidc?: OidcSettings): Promise<{ t: Team; db: string }> {
  let db = '';
  if (dialect === 'postgres') {
    const fresh = freshPgUrl();
    schemas.push(fresh.schema);
    db = fresh.url;
  }
  const t = await startTeam({
    store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`,
    roles: { admin: 'admin', alice: 'contributor', mallory: 'contributor' },
    ...(db ? { db } : {}),
    ...(oidc ? { oidc } : {}),
  });
  open.push(t);
  return { t, db: db || `sqlite:${join(t.dataDir, '.cairn', 'meta.db')}` };
}

/** The same data dir (and database, and store) served by a new process. */
async function restart(t: Team, oidc?: OidcSettings): Promise<RunningServer> {
  await t.server.close();
  const s = await startServer({
    listen: '127.0.0.1:0',
    dataDir: t.dataDir,
    env: process.env,
    ...(oidc ? { oidc } : {}),
  });
  open.push(s);
  return s;
}

async function put(s: RunningServer, token: string, uploadId: string, body: Buffer) {
  const res = await fetch(`${s.url}/api/v1/store/uploads/${uploadId}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body,
  });
  return { status: res.status, json: (await res.json()) as any };
}

function pack(seed: number) {
  const body = randomBytes(10_000 + seed);
  const sha256 = createHash('sha256').update(body).digest('hex');
  return { body, object: { key: `packs/${sha256.slice(0, 2)}/${sha256}.pack`, size: body.length, sha256 } };
}

describe.each(dialects)('kept across a restart ($name)', ({ name }) => {
  it('a planned upload: finished after the restart, once, by its planner; an expired one answers 410', async () => {
    const { t, db } = await team(name);
    const a = pack(1);
    const b = pack(2);
    const planned = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [a.object, b.object] });
    expect(planned.status).toBe(200);
    const [pa, pb] = planned.json.objects as any[];
    const s = await restart(t);

    // Another account cannot use alice's plan (nor use it up).
    const stolen = await put(s, t.tokens.mallory!, pa.uploadId, a.body);
    expect(stolen.status).toBe(410);
    expect(stolen.json.error.code).toBe('UPLOAD_UNKNOWN');
    expect((await put(s, t.tokens.alice!, pa.uploadId, a.body)).status).toBe(200);
    expect((await s.runtime.store!.list('packs/')).map((o) => o.key)).toEqual([a.object.key]);
    // Used once: a replay (after the restart too) is refused.
    const replay = await put(s, t.tokens.alice!, pa.uploadId, a.body);
    expect(replay.status).toBe(410);
    expect(replay.json.error.code).toBe('UPLOAD_UNKNOWN');

    // b's plan past its expiry (as if the URL's 15 minutes had passed): refused, and swept.
    const meta = await openMetaStore(db);
    try {
      await meta.db.updateTable('upload_plans').set({ expires_at: '2000-01-01T00:00:00.000Z' }).execute();
      const late = await put(s, t.tokens.alice!, pb.uploadId, b.body);
      expect(late.status).toBe(410);
      expect(late.json.error.code).toBe('UPLOAD_UNKNOWN');
      expect(await meta.db.selectFrom('upload_plans').selectAll().execute()).toEqual([]);
      // A plan nobody uses is swept once expired.
      const c = pack(3);
      const again = await fetch(`${s.url}/api/v1/store/plan`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.tokens.alice}`, 'content-type': 'application/json' },
        body: JSON.stringify({ objects: [c.object] }),
      });
      expect(again.status).toBe(200);
      await meta.db.updateTable('upload_plans').set({ expires_at: '2000-01-01T00:00:00.000Z' }).execute();
      expect((await s.runtime.store!.sweep()).expired).toBeGreaterThanOrEqual(1);
      expect(await meta.db.selectFrom('upload_plans').selectAll().execute()).toEqual([]);
    } finally {
      await meta.close();
    }
    expect((await s.runtime.store!.list('packs/')).map((o) => o.key)).toEqual([a.object.key]);
  }, 180_000);

  it('a browser session: kept hashed, survives the restart, ends with logout or a disabled account', async () => {
    const settings = oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })!;
    const { t, db } = await team(name, settings);
    idp.configure([`${t.server.url}/auth/callback`]);
    await t.server.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
      t.server.runtime.identity.addAccount({ name: 'erin', role: 'viewer' }),
    );
    const signIn = async () => {
      const jar = new Map<string, Map<string, string>>();
      const end = await browse(`${t.server.url}/auth/login?return_to=/api/v1/whoami`, 'u-2001', jar);
      expect(JSON.parse(end.body)).toMatchObject({ user: 'erin' });
      return jar.get(t.server.url)!.get('cairn_session')!;
    };
    const first = await signIn();
    const second = await signIn();

    // What the database holds is no session id: a reader of it cannot sign in with it.
    const meta = await openMetaStore(db);
    let hashes: string[];
    try {
      // Sessions only (the row holding the session key's check value is no session: its id is no hash).
      const rows = (await meta.db.selectFrom('browser_sessions').selectAll().execute()).filter((r) =>
        /^[0-9a-f]{64}$/.test(r.id_hash),
      );
      expect(rows).toHaveLength(2);
      const text = JSON.stringify(rows);
      expect(text).not.toContain(first);
      expect(text).not.toContain(second);
      hashes = rows.map((r) => r.id_hash).sort();
      expect(hashes).toEqual([first, second].map((id) => createHash('sha256').update(id).digest('hex')).sort());
    } finally {
      await meta.close();
    }

    const s = await restart(t, settings);
    const whoami = async (cookie: string) => {
      const res = await fetch(`${s.url}/api/v1/whoami`, { headers: { cookie: `cairn_session=${cookie}` } });
      return { status: res.status, json: (await res.json()) as any };
    };
    expect(await whoami(first)).toMatchObject({ status: 200, json: { user: 'erin' } });
    expect((await whoami(second)).status).toBe(200);
    // Forged cookies: a made-up id, and the stored hash itself.
    for (const forged of [randomBytes(32).toString('base64url'), hashes[0]!]) {
      const r = await whoami(forged);
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('UNAUTHENTICATED');
    }
    // Logout ends that session only.
    const out = await fetch(`${s.url}/auth/logout`, { method: 'POST', headers: { cookie: `cairn_session=${first}` } });
    expect(await out.json()).toEqual({ signedOut: true });
    expect((await whoami(first)).status).toBe(401);
    expect((await whoami(second)).status).toBe(200);
    // A disabled account's session acts no more.
    await s.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
      s.runtime.identity.disable('erin'),
    );
    expect((await whoami(second)).status).toBe(401);
  }, 180_000);
});
