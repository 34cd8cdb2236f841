import { describe, expect, it } from 'vitest';
import { initWorkspace } from '../../src/app/workspace.js';
import { isCairnError } from '../../src/core/errors.js';
import { createIdentityService } from '../../src/identity/index.js';
import { useTempDirs } from '../../src/test-support/temp.js';

/**
 * The identity cache keeps a credential it verified (by the whole token) for as long as the
 * identity generation stands: what a kept credential must still be refused for.
 */
describe('a verified token kept for its generation', () => {
  const tmp = useTempDirs();

  async function setUp() {
    let now = Date.parse('2026-12-06T00:00:00.000Z');
    const clock = { now: () => new Date(now) };
    const env = { ...process.env, CAIRN_ACTOR: 'host-admin' };
    const ws = await initWorkspace(tmp(), { command: 'test', env, clock });
    const ids = createIdentityService(ws);
    await ids.addAccount({ name: 'alice', role: 'contributor', groups: ['ml'] });
    return { ws, ids, advance: (ms: number) => (now += ms) };
  }

  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(isCairnError(err, 'UNAUTHENTICATED'), String(err)).toBe(true);
    return (err as Error).message;
  };

  it('is refused once it expires, once revoked, and with a wrong secret; callers cannot change what is kept', async () => {
    const { ws, ids, advance } = await setUp();
    try {
      const tok = await ids.createToken('alice', { expiresInMs: 60_000 });
      const first = await (await ids.view()).authenticate(tok.token);
      expect(first.actor).toEqual({ id: 'alice', auth: 'token', credential: tok.id });
      // What a request does with its identity is its own.
      (first.principal.groups as string[]).push('admins');
      first.actor.id = 'mallory';
      const again = await (await ids.view({ lastSeen: true })).authenticate(tok.token);
      expect(again.principal.groups).toEqual(['ml']);
      expect(again.actor.id).toBe('alice');
      // The same id with another secret: the kept entry is keyed by the whole token.
      const forged = tok.token.slice(0, -4) + (tok.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      await refusal((await ids.view({ lastSeen: true })).authenticate(forged));
      // Past its expiry, at the same generation (nothing changed in the accounts).
      advance(60_001);
      expect(await refusal((await ids.view({ lastSeen: true })).authenticate(tok.token))).toMatch(/expired/);

      const other = await ids.createToken('alice');
      await (await ids.view()).authenticate(other.token);
      await (await ids.view({ lastSeen: true })).authenticate(other.token);
      await ids.revokeToken(other.id);
      // The next request of this process reads the generation the revocation moved.
      expect(await refusal((await ids.view()).authenticate(other.token))).toMatch(/revoked/);
      expect(await refusal((await ids.view({ lastSeen: true })).authenticate(other.token))).toMatch(/revoked/);
    } finally {
      await ws.close();
    }
  });

  it('is refused once its account is disabled', async () => {
    const { ws, ids } = await setUp();
    try {
      const tok = await ids.createToken('alice');
      await (await ids.view()).authenticate(tok.token);
      await ids.disable('alice');
      expect(await refusal((await ids.view()).authenticate(tok.token))).toMatch(/disabled/);
    } finally {
      await ws.close();
    }
  });
});
