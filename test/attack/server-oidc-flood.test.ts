import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings } from '../../src/app/oidc/index.js';
import { browse, startIdp, type TestIdp } from '../server/idp.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * An outsider, with no credential, starts browser sign-ins (`GET /auth/login`) and never finishes
 * them. Each one used to be kept in the server's memory for ten minutes, up to 10,000: past that,
 * every person's sign-in was refused (`LIMIT_EXCEEDED`) for ten minutes. A sign-in in progress
 * now travels in its own sealed cookie, so starting many costs the server nothing it keeps, and a
 * person's sign-in in the middle of the flood goes through. Against the real OpenID provider.
 */
let idp: TestIdp;
let t: Team;
beforeAll(async () => {
  idp = await startIdp({ 'u-2001': { preferred_username: 'hana', email: 'hana@example.com', groups: ['ml'] } });
  t = await startTeam({ oidc: oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })! });
  idp.configure([`${t.server.url}/auth/callback`]);
  await t.server.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
    t.server.runtime.identity.grant('group:ml', '*', 'viewer'),
  );
}, 120_000);
afterAll(async () => {
  await t?.close();
  await idp?.close();
});

describe('a flood of unfinished sign-ins', () => {
  it('does not lock people out of signing in', async () => {
    let refused = 0;
    const one = async () => {
      const r = await fetch(`${t.server.url}/auth/login`, { redirect: 'manual' });
      await r.arrayBuffer();
      if (r.status !== 302) refused++;
    };
    for (let done = 0; done < 10_050; done += 50) await Promise.all(Array.from({ length: 50 }, one));
    expect(refused, 'sign-ins refused during the flood').toBe(0);
    const end = await browse(`${t.server.url}/auth/login?return_to=/api/v1/whoami`, 'u-2001', new Map());
    expect(end.status, end.body.slice(0, 300)).toBe(200);
    expect(JSON.parse(end.body)).toMatchObject({ user: 'hana' });
  }, 240_000);

  it('a state cookie that is not the server’s sealed one, or one replayed after use, is refused', async () => {
    const start = await fetch(`${t.server.url}/auth/login`, { redirect: 'manual' });
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const sealed = /cairn_oidc_state=([^;]+)/.exec(start.headers.get('set-cookie') ?? '')![1]!;
    for (const cookie of [state, `${sealed.slice(0, -2)}AA`, 'x'.repeat(300)]) {
      const r = await fetch(`${t.server.url}/auth/callback?code=abc&state=${state}`, {
        headers: { cookie: `cairn_oidc_state=${cookie}` },
      });
      expect(r.status).toBe(401);
    }
    // The sealed cookie with another sign-in's state is refused too.
    const other = await fetch(`${t.server.url}/auth/login`, { redirect: 'manual' });
    const otherState = new URL(other.headers.get('location')!).searchParams.get('state')!;
    const mixed = await fetch(`${t.server.url}/auth/callback?code=abc&state=${otherState}`, {
      headers: { cookie: `cairn_oidc_state=${sealed}` },
    });
    expect(mixed.status).toBe(401);
    // ... and that spent the sealed cookie's own sign-in: it is not usable again.
    const replay = await fetch(`${t.server.url}/auth/callback?code=abc&state=${state}`, {
      headers: { cookie: `cairn_oidc_state=${sealed}` },
    });
    expect(replay.status).toBe(401);
  });
});
