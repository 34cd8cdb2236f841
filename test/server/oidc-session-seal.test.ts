/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings, sessionHash } from '../../src/app/oidc/index.js';
import { rowSeal, sealedFields } from '../../src/identity/index.js';
import { SESSION_KEY_FILE, sessionKeys } from '../../src/app/session-seal.js';
import { openMetaStore } from '../../src/meta/open.js';
import { startServer } from '../../src/server/start.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { dropSchema, freshPgUrl, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team, announcedUrl } from './harness.js';
import { browse, startIdp, type TestIdp } from './idp.js';

/**
 * Browser sessions' refresh tokens (docs/SERVER.md "Sign-in with OpenID Connect", "secure"):
 * sealed in the database with a key of the data dir's, bound to their row, and spent once across
 * server processes. Two real server processes (this one's and a `cairn server start` child) on
 * one PostgreSQL schema and one data dir, against the real `oidc-provider`, which rotates refresh
 * tokens and revokes the whole sign-in when one is used twice. The re-check interval is 1 ms, so
 * every request renews the session: the race between the processes is in every request.
 */
const pg = await postgresAvailable();
const keyFile = (dataDir: string) => join(dataDir, '.cairn', SESSION_KEY_FILE);
if (!pg && process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error('PostgreSQL is required');

describe.skipIf(!pg)('browser-session refresh tokens: sealed at rest, spent once across processes', () => {
  let idp: TestIdp;
  let a: Team;
  let b: { child: ChildProcess; url: string };
  let db: { url: string; schema: string };
  /** Every refresh token the provider issued (its value is the jti), and every grant it refused. */
  const issued: string[] = [];
  const refused: string[] = [];

  beforeAll(async () => {
    idp = await startIdp({ 'u-7': { preferred_username: 'kim', email: 'kim@example.com', groups: ['ml'] } });
    idp.on('refresh_token.saved', (t: { jti: string }) => void issued.push(t.jti));
    idp.on('grant.error', (_ctx: unknown, err: Error) => void refused.push(err.message));
    db = freshPgUrl();
    const oidc = oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })!;
    a = await startTeam({ db: db.url, oidc, oidcSessionRecheckMs: 1, roles: {} });
    idp.configure([`${a.server.url}/auth/callback`], undefined, { refreshAlways: true });
    await a.server.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
      a.server.runtime.identity.grant('group:ml', '*', 'viewer'),
    );
    const child = cliSpawn(
      [
        ...['server', 'start', '--listen', '127.0.0.1:0', '--data-dir', a.dataDir],
        ...['--oidc-issuer', idp.issuer, '--oidc-client-id', idp.clientId, '--oidc-session-recheck', '0.001'],
      ],
      { cwd: a.dataDir },
    );
    const url = await announcedUrl(child);
    b = { child, url };
  }, 120_000);
  afterAll(async () => {
    if (b && b.child.exitCode === null) {
      const gone = new Promise((r) => b.child.once('exit', r));
      b.child.kill('SIGTERM');
      await gone;
    }
    await a?.close();
    await idp?.close();
    if (db) await dropSchema(db.schema);
  });

  const signIn = async (): Promise<string> => {
    const jar = new Map<string, Map<string, string>>();
    const end = await browse(`${a.server.url}/auth/login?return_to=/api/v1/whoami`, 'u-7', jar);
    expect(JSON.parse(end.body)).toMatchObject({ user: 'kim' });
    return jar.get(a.server.url)!.get('cairn_session')!;
  };
  const whoami = async (base: string, session: string) => {
    const res = await fetch(`${base}/api/v1/whoami`, { headers: { cookie: `cairn_session=${session}` } });
    return { status: res.status, json: (await res.json()) as any };
  };
  const dump = () =>
    execFileSync('pg_dump', ['--data-only', `--schema=${db.schema}`, PG_BASE_URL], { encoding: 'utf8' });

  it('both processes renewing one session at once spend each refresh token once, and it stays signed in (seeded)', async () => {
    const session = await signIn();
    const rnd = mulberry32(0x5e55);
    for (let round = 0; round < 12; round++) {
      // 2 to 4 requests at once, each to either process, each after a random number of turns of the event loop.
      const n = 2 + Math.floor(rnd() * 3);
      const answers = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const to = i === 0 ? a.server.url : i === 1 ? b.url : rnd() < 0.5 ? a.server.url : b.url;
          for (let turns = Math.floor(rnd() * 4); turns > 0; turns--) await new Promise((r) => setImmediate(r));
          return whoami(to, session);
        }),
      );
      for (const r of answers) expect(r, `round ${round}: ${JSON.stringify(r.json)}`).toMatchObject({ status: 200 });
    }
    // Renewed all along (the interval is 1 ms), and never with a token the provider had seen already.
    expect(issued.length).toBeGreaterThan(12);
    expect(refused).toEqual([]);
  }, 120_000);

  it('a dump of the database holds no refresh token, no session id and no key of the server', async () => {
    const session = await signIn();
    expect((await whoami(b.url, session)).status).toBe(200);
    const text = dump();
    // The dump is of the sessions: their rows are in it, by the hash of the id.
    expect(text).toContain(sessionHash(session));
    expect(issued.length).toBeGreaterThan(0);
    for (const token of issued) expect(text).not.toContain(token);
    expect(text).not.toContain(session);
    expect(text).not.toContain(readFileSync(keyFile(a.dataDir), 'utf8').trim());
    expect(text).not.toContain('oidc-state-seal-key');
  }, 60_000);

  it("a sealed refresh token copied to another session's row is not used there; its own session goes on", async () => {
    const [victim, mallory] = [await signIn(), await signIn()];
    const meta = await openMetaStore(db.url);
    try {
      const row = await meta.db
        .selectFrom('browser_sessions')
        .select('claims')
        .where('id_hash', '=', sessionHash(victim))
        .executeTakeFirstOrThrow();
      await meta.db
        .updateTable('browser_sessions')
        .set({ claims: row.claims })
        .where('id_hash', '=', sessionHash(mallory))
        .execute();
    } finally {
      await meta.close();
    }
    const before = issued.length;
    const r = await whoami(b.url, mallory);
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('UNAUTHENTICATED');
    // Nothing was renewed with the victim's token: the victim's session renews as before.
    expect(issued.length).toBe(before);
    expect(await whoami(a.server.url, victim)).toMatchObject({ status: 200, json: { user: 'kim' } });
    expect(refused).toEqual([]);
  }, 60_000);

  it('a row a server before sealing left in the clear is sealed at the next start, and renews', async () => {
    const session = await signIn();
    const h = sessionHash(session);
    let token = '';
    const meta = await openMetaStore(db.url);
    try {
      // As a server before sealing wrote it: the token in the clear (opened here with the data dir's key).
      const r = await meta.db
        .selectFrom('browser_sessions')
        .select('claims')
        .where('id_hash', '=', h)
        .executeTakeFirstOrThrow();
      const v = JSON.parse(r.claims) as { claims: unknown; refreshToken: string; recheckAt: number };
      token = sessionKeys(Buffer.from(readFileSync(keyFile(a.dataDir), 'utf8').trim(), 'hex')).open(h, v.refreshToken)!;
      expect(issued).toContain(token);
      const clear = { cairnSession: 2, claims: v.claims, refreshToken: token, recheckAt: v.recheckAt };
      // The row keeps a valid seal (the server's row seal, over the row as it now reads): what is
      // tested is the refresh token in the clear, not a row without a seal.
      const raw = Buffer.from(readFileSync(keyFile(a.dataDir), 'utf8').trim(), 'hex');
      const row = await meta.db
        .selectFrom('browser_sessions')
        .selectAll()
        .where('id_hash', '=', h)
        .executeTakeFirstOrThrow();
      const claims = JSON.stringify(clear);
      const row_mac = rowSeal(sessionKeys(raw).rowKey).mac(
        'browser_sessions',
        sealedFields.browser_sessions({ ...row, claims }),
      );
      await meta.db.updateTable('browser_sessions').set({ claims, row_mac }).where('id_hash', '=', h).execute();
    } finally {
      await meta.close();
    }
    expect(dump()).toContain(token);
    // Another server process starting on the database seals it.
    const c = await startServer({ listen: '127.0.0.1:0', dataDir: a.dataDir, db: db.url, env: process.env });
    await c.close();
    const text = dump();
    for (const token of issued) expect(text).not.toContain(token);
    expect(await whoami(b.url, session)).toMatchObject({ status: 200, json: { user: 'kim' } });
    expect(refused).toEqual([]);
  }, 60_000);

  it('a server whose data dir has another session key does not start on the database', async () => {
    const other = mkdtempSync(join(tmpdir(), 'cairn-server-other-'));
    cpSync(a.dataDir, other, { recursive: true });
    writeFileSync(keyFile(other), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    await expect(startServer({ listen: '127.0.0.1:0', dataDir: other, db: db.url, env: process.env })).rejects.toThrow(
      /is not the key this database's sessions are sealed with/,
    );
  }, 60_000);
});
