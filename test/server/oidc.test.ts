/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings } from '../../src/app/oidc/index.js';
import { loginWithOidc, whoami } from '../../src/app/remote/login.js';
import { authConfig, deviceSignIn } from '../../src/app/remote/oidc-login.js';
import { credentialsPath } from '../../src/app/remote/credentials.js';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { browse, startIdp, type TestIdp } from './idp.js';
import { startTeam, type Team } from './harness.js';

// People at the provider, by subject. Only gina has an account on the Cairn server; erin and
// frank get their roles from their groups alone.
const people = {
  'u-1001': { preferred_username: 'erin', email: 'erin@example.com', groups: ['ml'] },
  'u-1002': { preferred_username: 'frank', email: 'frank@example.com', groups: ['sales'] },
  'u-1003': { preferred_username: 'gina', email: 'gina@example.com', groups: [] },
};

describe('OpenID Connect sign-in against a real provider', () => {
  let idp: TestIdp;
  let t: Team;
  let web: Team; // a second server whose client at the provider is confidential (a client secret)
  const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };

  beforeAll(async () => {
    idp = await startIdp(people);
    t = await startTeam({ oidc: oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })! });
    const secretFile = join(mkdtempSync(join(tmpdir(), 'cairn-oidc-secret-')), 'secret');
    writeFileSync(secretFile, 'web-client-secret\n', { mode: 0o600 });
    web = await startTeam({
      oidc: oidcSettings({ issuer: idp.issuer, clientId: 'cairn-web', clientSecretFile: secretFile })!,
      roles: { admin: 'admin' },
    });
    idp.configure([`${t.server.url}/auth/callback`], {
      clientId: 'cairn-web',
      secret: 'web-client-secret',
      redirectUris: [`${web.server.url}/auth/callback`],
    });
    const rt = t.server.runtime;
    await rt.runAs(host, async () => {
      await rt.identity.grant('group:ml', '*', 'viewer');
      await rt.identity.addAccount({ name: 'gina', role: 'viewer' });
    });
  });
  afterAll(async () => {
    await t?.close();
    await web?.close();
    await idp?.close();
  });

  /** The device flow as the CLI runs it, with the person approving in the test's browser meanwhile. */
  async function deviceToken(sub: string): Promise<string> {
    const cfg = await authConfig(t.server.url);
    let approving: Promise<unknown> = Promise.resolve();
    const r = await deviceSignIn(cfg, (p) => void (approving = browse(p.verificationUriComplete!, sub)), {
      pollMs: 100,
    });
    await approving;
    return r.idToken;
  }

  const get = (token: string, path = '/api/v1/datasets') => t.call(token, 'GET', path);

  it('tells clients, without a credential, which provider to sign in with', async () => {
    const r = await t.call(null, 'GET', '/api/v1/auth/config');
    expect(r.status).toBe(200);
    expect(r.json.oidc).toMatchObject({ issuer: idp.issuer, clientId: idp.clientId });
    expect(r.json.oidc.scopes).toContain('openid');
  });

  it('cairn login --oidc: device code grant, tokens stored owner-only, renewed with the refresh token', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'cairn-oidc-cfg-')) };
    delete env.CAIRN_SERVER;
    delete env.CAIRN_TOKEN;
    let prompt: any = null;
    let approving: Promise<unknown> = Promise.resolve();
    const r = await loginWithOidc(t.server.url, env, {
      pollMs: 100,
      onPrompt: (p) => {
        prompt = p;
        approving = browse(p.verificationUriComplete!, 'u-1001');
      },
    });
    await approving;
    expect(prompt.userCode).toMatch(/\S/);
    expect(prompt.verificationUri).toBe(`${idp.issuer}/device`);
    expect(r).toMatchObject({ user: 'erin', via: 'oidc', refreshable: true });
    const file = credentialsPath(env);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')).servers[t.server.url];
    expect(stored.token.split('.')).toHaveLength(3);
    expect(typeof stored.oidc.refreshToken).toBe('string');
    expect(await whoami(env)).toMatchObject({ user: 'erin', groups: ['ml'] });

    // The ID token runs out: the next command renews it with the refresh token and stores it.
    const c = JSON.parse(readFileSync(file, 'utf8'));
    c.servers[t.server.url].oidc.expiresAt = 0;
    writeFileSync(file, JSON.stringify(c));
    expect(await whoami(env)).toMatchObject({ user: 'erin' });
    const renewed = JSON.parse(readFileSync(file, 'utf8')).servers[t.server.url];
    // (The ID token itself may be byte-identical when renewed within the same second.)
    expect(renewed.oidc.expiresAt).toBeGreaterThan(Date.now());
    expect(renewed.oidc.refreshToken).not.toBe(stored.oidc.refreshToken); // the provider rotates it

    // It runs out again and four commands start at once: one renews, the others wait and use
    // its tokens. Spending one refresh token twice would make the provider revoke the sign-in.
    const reuse: unknown[] = [];
    idp.on('grant.error', (_ctx: never, err: never) => reuse.push(err));
    const again = JSON.parse(readFileSync(file, 'utf8'));
    again.servers[t.server.url].oidc.expiresAt = 0;
    writeFileSync(file, JSON.stringify(again));
    const racers = await Promise.all(
      [0, 1, 2, 3].map(
        (i) =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const p = cliSpawn(['whoami', '--json'], { cwd: env.CAIRN_CONFIG_DIR!, env: { ...env, RACER: String(i) } });
            let out = '';
            p.stdout!.on('data', (d: Buffer) => (out += d));
            p.stderr!.on('data', (d: Buffer) => (out += d));
            p.on('close', (code) => resolve({ code, out }));
          }),
      ),
    );
    expect(
      racers.map((r) => r.code),
      racers.map((r) => r.out).join('\n'),
    ).toEqual([0, 0, 0, 0]);
    expect(reuse).toEqual([]);
    expect(await whoami(env)).toMatchObject({ user: 'erin' });

    // Every request is recorded as the account, proven by OpenID, naming the subject.
    const ev = await t.call('admin', 'GET', '/api/v1/audit/events?actor=erin');
    expect(ev.json.length).toBeGreaterThan(0);
    for (const e of ev.json) expect(e.event.actor).toEqual({ id: 'erin', auth: 'oidc', credential: 'u-1001' });
  });

  it("maps the provider's groups to roles through grants to group:<name>", async () => {
    const erin = await deviceToken('u-1001');
    const frank = await deviceToken('u-1002');
    expect((await get(erin)).status).toBe(200);
    const denied = await get(frank);
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe('PERMISSION_DENIED');
    // A viewer via group:ml may not write.
    const write = await t.call(erin, 'POST', '/api/v1/versions/tags', { ref: 'x@1', tag: 't' });
    expect(write.status).toBe(403);
    await t.server.runtime.runAs(host, () => t.server.runtime.identity.grant('group:sales', 'default', 'viewer'));
    expect((await get(frank)).status).toBe(200);
  });

  it('refuses an expired token, one for another audience, and one signed by another key', async () => {
    const claims = { ...people['u-1001'], sub: 'u-1001', iss: idp.issuer, aud: idp.clientId };
    // The same claims, signed with the provider's key and in date, are accepted: each refusal below is for its one fault.
    expect((await get(await idp.mint(claims))).status).toBe(200);
    const expired = await get(await idp.mint(claims, { expiresIn: -3600 }));
    expect(expired.status).toBe(401);
    expect(expired.json.error.code).toBe('UNAUTHENTICATED');
    expect(expired.json.error.message).toMatch(/expired/);
    const elsewhere = await get(await idp.mint({ ...claims, aud: 'another-app' }));
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.json.error.message).toMatch(/aud/);
    const wrongIssuer = await get(await idp.mint({ ...claims, iss: 'http://127.0.0.1:1' }));
    expect(wrongIssuer.status).toBe(401);
    const { privateKey: forger } = await generateKeyPair('RS256');
    const forged = await get(await idp.mint(claims, { key: forger }));
    expect(forged.status).toBe(401);
    expect(forged.json.error.message).toMatch(/signature/);
    const denied = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied');
    expect(denied.json.some((e: any) => /OpenID token is not accepted: it expired/.test(e.event.reason))).toBe(true);
  });

  it('refuses the token of a disabled account', async () => {
    const gina = await deviceToken('u-1003');
    expect((await get(gina)).status).toBe(200);
    await t.server.runtime.runAs(host, () => t.server.runtime.identity.disable('gina'));
    const r = await get(gina);
    expect(r.status).toBe(401);
    expect(r.json.error.message).toMatch(/gina is disabled/);
  });

  it('browser: authorization code + PKCE yields an HttpOnly session cookie that acts as the person', async () => {
    const jar = new Map<string, Map<string, string>>();
    const end = await browse(`${t.server.url}/auth/login?return_to=/api/v1/whoami`, 'u-1001', jar);
    expect(end.url).toBe(`${t.server.url}/api/v1/whoami`);
    expect(end.status).toBe(200);
    expect(JSON.parse(end.body)).toMatchObject({ user: 'erin', groups: ['ml'] });
    const session = end.setCookies.find((c) => c.startsWith('cairn_session=') && !c.startsWith('cairn_session=;'))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).not.toMatch(/Secure/); // plain http on loopback; Secure when reached over https
    const id = jar.get(t.server.url)!.get('cairn_session')!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = { cookie: `cairn_session=${id}` };
    // A write by cookie without the CSRF header is refused before it reaches a service.
    const csrf = await t.call(null, 'POST', '/api/v1/versions/tags', { ref: 'x@1', tag: 't' }, cookie);
    expect(csrf.status).toBe(401);
    const signins = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.signin');
    expect(signins.json.at(-1).event.actor).toEqual({ id: 'erin', auth: 'oidc', credential: 'u-1001' });
    // Signing out ends the session on the server.
    const out = await fetch(`${t.server.url}/auth/logout`, { method: 'POST', headers: cookie });
    expect(await out.json()).toEqual({ signedOut: true });
    expect((await t.call(null, 'GET', '/api/v1/whoami', undefined, cookie)).status).toBe(401);
  });

  it('browser with a confidential client: the code exchange authenticates with the client secret', async () => {
    await web.server.runtime.runAs(host, () => web.server.runtime.identity.grant('group:ml', '*', 'viewer'));
    const end = await browse(`${web.server.url}/auth/login?return_to=/api/v1/whoami`, 'u-1001');
    expect(end.url).toBe(`${web.server.url}/api/v1/whoami`);
    expect(JSON.parse(end.body)).toMatchObject({ user: 'erin' });
    // The provider refuses this client's code exchange without the secret: the public client's
    // tokens (aud cairn-test) are not accepted by this server either.
    const cfg = await authConfig(web.server.url);
    expect(cfg.clientId).toBe('cairn-web');
    const claims = { ...people['u-1001'], sub: 'u-1001', iss: idp.issuer, aud: idp.clientId };
    expect((await web.call(await idp.mint(claims), 'GET', '/api/v1/datasets')).status).toBe(401);
  });

  it('browser: a callback this browser did not start is refused', async () => {
    const start = await fetch(`${t.server.url}/auth/login`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    expect(new URL(start.headers.get('location')!).searchParams.get('code_challenge_method')).toBe('S256');
    // No state cookie (another browser, or a forged link): refused, and the state is spent.
    const r = await fetch(`${t.server.url}/auth/callback?code=abc&state=${state}`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.code).toBe('UNAUTHENTICATED');
    const r2 = await fetch(`${t.server.url}/auth/callback?code=abc&state=${state}`, {
      headers: { cookie: `cairn_oidc_state=${state}` },
    });
    expect(r2.status).toBe(401);
  });
});

describe('OpenID Connect with the provider away', () => {
  let t: Team | null = null;
  afterAll(async () => {
    await t?.close();
  });

  it('starts, and answers OpenID requests 503 SERVER_UNAVAILABLE (API tokens keep working)', async () => {
    const gone = await startIdp(people);
    const issuer = gone.issuer;
    await gone.close(); // nothing listens at the issuer any more
    t = await startTeam({ oidc: oidcSettings({ issuer, clientId: 'c' })! });
    const { privateKey } = await generateKeyPair('RS256');
    const jwt = await new SignJWT({ sub: 'u-1001', preferred_username: 'erin' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(issuer)
      .setAudience('c')
      .setExpirationTime('5m')
      .sign(privateKey);
    const r = await t.call(jwt, 'GET', '/api/v1/datasets');
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('SERVER_UNAVAILABLE');
    expect((await t.call('carol', 'GET', '/api/v1/datasets')).status).toBe(200);
  });
});

describe('a server without OpenID Connect', () => {
  let t: Team | null = null;
  afterAll(async () => {
    await t?.close();
  });

  it('says so at /api/v1/auth/config, and cairn login --oidc stops with UNSUPPORTED', async () => {
    t = await startTeam({ roles: { admin: 'admin' } });
    expect((await t.call(null, 'GET', '/api/v1/auth/config')).json).toEqual({ oidc: null });
    expect((await t.call(null, 'GET', '/auth/login')).status).toBe(404);
    const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'cairn-oidc-cfg-')) };
    await expect(loginWithOidc(t.server.url, env, { onPrompt: () => {} })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    // A JWT is not an API token, and no provider is configured to check it.
    const r = await t.call('aaa.bbb.ccc', 'GET', '/api/v1/datasets');
    expect(r.status).toBe(401);
  });
});

describe('the real CLI: cairn server start --oidc-issuer … and cairn login --oidc', () => {
  let idp: TestIdp;
  let server: ChildProcess | null = null;
  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    await idp?.close();
  });

  it('signs in through the device code grant and acts as the person', async () => {
    idp = await startIdp(people);
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-oidc-srv-'));
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-oidc-cli-'));
    const env = { CAIRN_CONFIG_DIR: join(cwd, 'config'), CAIRN_WORKSPACE: '', CAIRN_SERVER: '', CAIRN_TOKEN: '' };
    expect(cli(['server', 'grant', 'group:ml', 'viewer', '--data-dir', dataDir], { cwd, env }).code).toBe(0);
    server = cliSpawn(
      ['server', 'start', '--listen', '127.0.0.1:0', '--data-dir', dataDir].concat([
        '--oidc-issuer',
        idp.issuer,
        '--oidc-client-id',
        idp.clientId,
      ]),
      { cwd, env },
    );
    const url = (await waitFor(server.stdout!, /Cairn server on (http:\/\/\S+)/))[1]!;
    idp.configure([`${url}/auth/callback`]);
    const login = cliSpawn(['login', url, '--oidc'], { cwd, env });
    const shown = (await waitFor(login.stderr!, /open (http:\/\/\S+)/))[1]!;
    const out = collect(login.stdout!);
    await browse(shown, 'u-1001');
    const code = await new Promise((r) => login.once('exit', r));
    expect(code).toBe(0);
    expect(out()).toContain(`logged in to ${url} as erin (OpenID Connect)`);
    const me = cli(['whoami', '--json'], { cwd, env });
    expect(me.code).toBe(0);
    expect(me.json).toMatchObject({ user: 'erin', groups: ['ml'] });
  });
});

function collect(stream: Readable): () => string {
  let text = '';
  stream.on('data', (b: Buffer) => (text += b.toString()));
  return () => text;
}

/** The first match of `re` in what the stream writes (the process's own output, not a clock). */
function waitFor(stream: Readable, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (b: Buffer) => {
      text += b.toString();
      const m = re.exec(text);
      if (m) resolve(m);
    });
    stream.once('end', () => reject(new Error(`the process ended without printing ${re}: ${text}`)));
  });
}
