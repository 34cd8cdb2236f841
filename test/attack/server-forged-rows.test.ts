/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings, sessionHash } from '../../src/app/oidc/index.js';
import { ROWS_SEALED_FILE } from '../../src/app/row-guard.js';
import { openMetaStore, type MetaStore } from '../../src/meta/open.js';
import { startServer } from '../../src/server/start.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * Someone who can write the server's PostgreSQL (a DBA of a managed database, a leaked database
 * credential, a restored backup) but cannot read its data dir (docs/SERVER.md "Back up, upgrade,
 * secure"): every row the server authorizes from (accounts, tokens, grants, browser sessions) is
 * sealed with a key of the data dir's, so a row written or edited with SQL lets nobody in. Each
 * attack edits rows with SQL on a second connection, bumps the identity generation (as the
 * attacker can) and tries the request; each was let in before the rows were sealed.
 */
const pg = await postgresAvailable();
if (!pg && process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error('PostgreSQL is required');

describe.skipIf(!pg)('rows written with SQL let nobody in', () => {
  let t: Team;
  let db: { url: string; schema: string };
  let meta: MetaStore;

  beforeAll(async () => {
    db = freshPgUrl();
    // A provider that is never asked: sessions are made here with SQL, and plain claims are not re-checked.
    const oidc = oidcSettings({ issuer: 'http://127.0.0.1:9/', clientId: 'cairn' })!;
    t = await startTeam({ db: db.url, oidc });
    meta = await openMetaStore(db.url);
    // Legitimate: a group granted admin through the API, which nobody is in yet.
    expect(
      (await t.call('admin', 'PUT', '/api/v1/grants', { subject: 'group:ops', project: '*', role: 'admin' })).status,
    ).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await meta?.close();
    await t?.close();
    if (db) await dropSchema(db.schema);
  });

  const bump = () =>
    meta.db
      .updateTable('identity_generation')
      .set((eb) => ({ n: eb('n', '+', 1) }))
      .where('id', '=', 1)
      .execute();
  const principalId = async (name: string) =>
    (await meta.db.selectFrom('principals').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
  /** A token of the attacker's choosing, stored the way the server stores tokens. */
  const plantToken = async (user: string) => {
    const id = `tok${randomBytes(9).toString('hex').slice(0, 12)}`;
    const secret = randomBytes(32).toString('base64url');
    await meta.db
      .insertInto('api_tokens')
      .values({
        id,
        principal_id: await principalId(user),
        secret_hash: createHash('sha256').update(secret).digest('hex'),
        label: null,
        created_at: new Date().toISOString(),
        expires_at: null,
        revoked_at: null,
      })
      .execute();
    await bump();
    return `cairn_${id}_${secret}`;
  };
  const accounts = (who: string) => t.call(who, 'GET', '/api/v1/accounts');
  const forgedEvents = async () =>
    (await t.call('admin', 'GET', '/api/v1/audit/events?action=server.row.forged&limit=100')).json;

  it('legitimate rows work', async () => {
    expect((await accounts('admin')).status).toBe(200);
    expect((await accounts('carol')).status).toBe(403);
  });

  it('a token row inserted for the admin is refused, and the refusal names the row', async () => {
    const token = await plantToken('admin');
    const r = await accounts(token);
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('UNAUTHENTICATED');
    expect(r.json.error.message).toContain('seal');
    const id = token.split('_')[1]!;
    expect((await forgedEvents()).map((e: any) => e.target)).toContain(`row:api_tokens/${id}`);
  });

  it('an account and a grant inserted for oneself are refused', async () => {
    await meta.db
      .insertInto('principals')
      .values({
        id: 'mallory-id',
        name: 'mallory',
        kind: 'user',
        email: null,
        groups: '[]',
        created_at: new Date().toISOString(),
        created_by: 'host-admin',
        disabled_at: null,
      })
      .execute();
    await meta.db
      .insertInto('role_grants')
      .values({ subject: 'user:mallory', project: '*', role: 'admin', granted_at: 'x', granted_by: 'host-admin' })
      .execute();
    const token = await plantToken('mallory');
    expect((await accounts(token)).status).toBe(401);
    // The admin's listings show what is refused, rather than list it as any other row.
    const listed = (await accounts('admin')).json as any[];
    const m = listed.find((a) => a.name === 'mallory');
    expect([m.forged, m.grants]).toEqual([true, [{ project: '*', role: 'admin', forged: true }]]);
    expect(listed.find((a) => a.name === 'admin').forged).toBeUndefined();
    const tokens = (await t.call('admin', 'GET', '/api/v1/tokens?user=mallory')).json as any[];
    expect(tokens.map((x) => x.forged)).toEqual([true]);
    const own = (await t.call('admin', 'GET', '/api/v1/tokens?user=admin')).json as any[];
    // Its own token is sealed (the one planted for it above is not).
    expect(own.find((x) => x.id === t.tokenIds.admin).forged).toBeUndefined();
    expect(own.filter((x) => x.forged).length).toBe(1);
  });

  it("a viewer's grant raised to admin, or her groups edited, gives her nothing", async () => {
    await meta.db.updateTable('role_grants').set({ role: 'admin' }).where('subject', '=', 'user:carol').execute();
    await bump();
    expect((await accounts('carol')).status).toBe(403);
    await meta.db.updateTable('role_grants').set({ role: 'viewer' }).where('subject', '=', 'user:carol').execute();
    await meta.db.updateTable('principals').set({ groups: '["ops"]' }).where('name', '=', 'carol').execute();
    await bump();
    expect((await accounts('carol')).status).toBe(401);
    // The admin's own rows still stand.
    expect((await accounts('admin')).status).toBe(200);
  });

  it('a revoked token, an expired one and a disabled account stay refused when edited back', async () => {
    const tok = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'bob', expires: '30d' })).json;
    expect((await t.call('admin', 'DELETE', `/api/v1/tokens/${tok.id}`)).status).toBe(200);
    await meta.db.updateTable('api_tokens').set({ revoked_at: null }).where('id', '=', tok.id).execute();
    await bump();
    expect((await t.call(tok.token, 'GET', '/api/v1/whoami')).status).toBe(401);
    await meta.db
      .updateTable('api_tokens')
      .set({ expires_at: '2000-01-01T00:00:00.000Z' })
      .where('id', '=', t.tokenIds.dana!)
      .execute();
    await bump();
    expect((await t.call('dana', 'GET', '/api/v1/whoami')).status).toBe(401);
    expect((await t.call('admin', 'POST', '/api/v1/accounts/alice/disable')).status).toBe(200);
    await meta.db.updateTable('principals').set({ disabled_at: null }).where('name', '=', 'alice').execute();
    await bump();
    expect((await t.call('alice', 'GET', '/api/v1/whoami')).status).toBe(401);
  });

  it('a browser session row inserted with SQL signs nobody in', async () => {
    const sid = randomBytes(32).toString('base64url');
    await meta.db
      .insertInto('browser_sessions')
      .values({
        id_hash: sessionHash(sid),
        principal: 'admin',
        claims: JSON.stringify({ sub: 'x', preferred_username: 'admin' }),
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        created_at: new Date().toISOString(),
      })
      .execute();
    const r = await t.call(null, 'GET', '/api/v1/accounts', undefined, { cookie: `cairn_session=${sid}` });
    expect(r.status).toBe(401);
    expect((await forgedEvents()).map((e: any) => e.target)).toContain(`row:browser_sessions/${sessionHash(sid)}`);
  });

  it('after a restart, legitimate rows still work and forged ones still do not', async () => {
    const forged = await plantToken('admin');
    await t.server.close();
    const again = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, db: db.url, env: process.env });
    t.server = again;
    const get = async (token: string, path: string) =>
      (await fetch(again.url + path, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await get(t.tokens.admin!, '/api/v1/accounts')).toBe(200);
    expect(await get(t.tokens.bob!, '/api/v1/whoami')).toBe(200);
    expect(await get(t.tokens.bob!, '/api/v1/accounts')).toBe(403);
    expect(await get(forged, '/api/v1/accounts')).toBe(401);
  });
});

describe('the first start after the upgrade seals the rows already there, once', () => {
  it('rows a server from before seals wrote still work; a row left unsealed after that does not', async () => {
    const t = await startTeam({ roles: { admin: 'admin', carol: 'viewer' } });
    let server = t.server;
    try {
      await server.close();
      // The database and data dir as a server from before row seals left them: no seals, no
      // session key, no marks.
      const meta = await openMetaStore(join(t.dataDir, '.cairn', 'meta.db'));
      try {
        for (const table of ['principals', 'api_tokens', 'role_grants', 'browser_sessions'] as const)
          await meta.db.updateTable(table).set({ row_mac: null }).execute();
        await meta.db
          .deleteFrom('browser_sessions')
          .where('id_hash', 'in', ['rows-sealed', 'session-key-check'])
          .execute();
      } finally {
        await meta.close();
      }
      rmSync(join(t.dataDir, '.cairn', ROWS_SEALED_FILE));
      rmSync(join(t.dataDir, '.cairn', 'keys', 'session.key'));
      const start = () => startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, env: process.env });
      const get = async (token: string, path: string) =>
        (await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` } })).status;
      server = await start();
      expect(await get(t.tokens.admin!, '/api/v1/accounts')).toBe(200);
      expect(await get(t.tokens.carol!, '/api/v1/whoami')).toBe(200);
      await server.close();
      // A grant written unsealed after that (the database's own mark of the upgrade removed too) is
      // not sealed by a restart, nor by a new host given only the session key (no mark file).
      const again = await openMetaStore(join(t.dataDir, '.cairn', 'meta.db'));
      try {
        await again.db
          .updateTable('role_grants')
          .set({ role: 'admin', row_mac: null })
          .where('subject', '=', 'user:carol')
          .execute();
        await again.db.deleteFrom('browser_sessions').where('id_hash', '=', 'rows-sealed').execute();
      } finally {
        await again.close();
      }
      rmSync(join(t.dataDir, '.cairn', ROWS_SEALED_FILE));
      server = await start();
      expect(await get(t.tokens.carol!, '/api/v1/accounts')).toBe(403);
      expect(await get(t.tokens.admin!, '/api/v1/accounts')).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});
