import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings } from '../../src/app/oidc/index.js';
import { startTeam, type Team } from './harness.js';
import { browse, startIdp, type IdpAccount, type TestIdp } from './idp.js';

/**
 * A person removed from a group at the provider kept the group's role in the web UI for the
 * whole 8-hour session: the session's claims were the sign-in's. Now they are asked for again
 * every `--oidc-session-recheck` (here 1 s) with the refresh token, and a session without one
 * ends by then. Against the real `oidc-provider`.
 */
const RECHECK_MS = 1000;
const people: Record<string, IdpAccount> = {
  'u-1': { preferred_username: 'hana', email: 'hana@example.com', groups: ['ml'] },
  'u-2': { preferred_username: 'ivan', email: 'ivan@example.com', groups: ['ml'] },
};
const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };

describe.each([
  { name: 'with a refresh token', refreshAlways: true },
  { name: 'without a refresh token', refreshAlways: false },
])('browser sessions re-check the groups ($name)', ({ refreshAlways }) => {
  let idp: TestIdp;
  let t: Team;
  // The provider reads each account's claims from here whenever it issues a token.
  const accounts = structuredClone(people);
  beforeAll(async () => {
    idp = await startIdp(accounts);
    t = await startTeam({
      oidc: oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })!,
      oidcSessionRecheckMs: RECHECK_MS,
      roles: { admin: 'admin' },
    });
    idp.configure([`${t.server.url}/auth/callback`], undefined, { refreshAlways });
    await t.server.runtime.runAs(host, () => t.server.runtime.identity.grant('group:ml', '*', 'viewer'));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  async function signIn(sub: string): Promise<Record<string, string>> {
    const jar = new Map<string, Map<string, string>>();
    const end = await browse(`${t.server.url}/auth/login?return_to=/api/v1/whoami`, sub, jar);
    expect(JSON.parse(end.body)).toMatchObject({ groups: ['ml'] });
    return { cookie: `cairn_session=${jar.get(t.server.url)!.get('cairn_session')!}` };
  }

  it('a person removed from a group at the provider loses its role within the interval', async () => {
    const cookie = await signIn('u-1');
    // Removed at the provider (the account object is the one the provider reads claims from).
    accounts['u-1']!.groups = [];
    const before = await t.call(null, 'GET', '/api/v1/whoami', undefined, cookie);
    expect(before.json).toMatchObject({ user: 'hana', groups: ['ml'] });
    await new Promise((r) => setTimeout(r, RECHECK_MS + 200));
    const after = await t.call(null, 'GET', '/api/v1/whoami', undefined, cookie);
    if (refreshAlways) {
      // Still signed in, with the provider's groups of now: no grant reaches her any more.
      expect(after.status).toBe(403);
      expect(after.json.error.code).toBe('PERMISSION_DENIED');
    } else {
      expect(after.status).toBe(401);
      expect(after.json.error.code).toBe('UNAUTHENTICATED');
    }
  }, 60_000);

  it('a person whose groups did not change keeps the session across re-checks (when it can be renewed)', async () => {
    const cookie = await signIn('u-2');
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, RECHECK_MS + 200));
      const r = await t.call(null, 'GET', '/api/v1/whoami', undefined, cookie);
      if (!refreshAlways) return expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ user: 'ivan', groups: ['ml'] });
    }
  }, 60_000);
});
