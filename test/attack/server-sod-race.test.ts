/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * Separation of duties against a moving alias. The server checks who authored the version a
 * protected alias would move onto, then the service moves it: if the request names the version
 * through another alias (`m@staging`, or `m` for the latest), that alias can move between the
 * check and the move, and the approver's own version goes live by their own hand. The window is
 * opened deterministically: the real service's read the check makes (`authors`) is wrapped so that, right
 * after it answers, a second person moves the alias through the real service (what a colleague's
 * concurrent `cairn model alias set` would do).
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

type Models = Team['server']['runtime']['services']['models'];

/** Runs `between` once, right after the first `method` call whose first argument satisfies `when`. */
function interleave<K extends 'authors' | 'history'>(
  method: K,
  when: (arg: string) => boolean,
  between: () => Promise<unknown>,
): () => void {
  // The services are lazy proxies: the runtime's `models` is replaced by one that wraps `method`.
  const services = t.server.runtime.services as any;
  const real = services.models;
  let armed = true;
  services.models = new Proxy(real, {
    get(target, name) {
      if (name !== method) return target[name];
      return async (...args: unknown[]) => {
        const out = await target[name](...args);
        if (armed && when(String(args[0]))) {
          armed = false;
          await between();
        }
        return out;
      };
    },
  });
  return () => {
    services.models = real;
  };
}

function as<T>(user: string, f: (m: Models) => Promise<T>): Promise<T> {
  const rt = t.server.runtime;
  return rt.runAs({ actor: { id: user, auth: 'token' }, command: 'test colleague' }, () => f(rt.services.models));
}

async function live(model: string, alias: string): Promise<string | null> {
  const r = await t.call('carol', 'GET', `/api/v1/model-versions/show?ref=${encodeURIComponent(`${model}@${alias}`)}`);
  return r.status === 200 ? (r.json.ref as string) : null;
}

describe('a protected alias moved through an alias that moves meanwhile', () => {
  it('promote m@staging: the version checked is the version that goes live', async () => {
    const theirs = await t.registerAs('alice', 'race-promote');
    const own = await t.registerAs('bob', 'race-promote');
    await as('alice', (m) => m.promote(theirs, 'staging', 'set'));
    const restore = interleave(
      'authors',
      (ref) => ref === 'race-promote@staging',
      () => as('alice', (m) => m.promote(own, 'staging', 'set')),
    );
    try {
      const r = await t.call('bob', 'POST', '/api/v1/model-versions/promotions', {
        ref: 'race-promote@staging',
        alias: 'production',
      });
      // Either the checked version went live, or nothing did: never bob's own.
      expect(await live('race-promote', 'production')).not.toBe(own);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.ref).toBe(theirs);
      expect(await live('race-promote', 'staging')).toBe(own);
    } finally {
      restore();
    }
  });

  it('promote by bare name (the latest version): a registration in between does not go live', async () => {
    await t.registerAs('alice', 'race-latest');
    const theirs = (await live('race-latest', 'latest'))!;
    let own = '';
    const restore = interleave(
      'authors',
      (ref) => ref === 'race-latest',
      async () => {
        own = await t.registerAs('bob', 'race-latest');
      },
    );
    try {
      const r = await t.call('bob', 'POST', '/api/v1/model-versions/promotions', {
        ref: 'race-latest',
        alias: 'production',
      });
      expect(own).not.toBe('');
      expect(await live('race-latest', 'production')).not.toBe(own);
      expect([r.status, r.json.ref]).toEqual([200, theirs]);
    } finally {
      restore();
    }
  });

  it('rollback: a move in between that changes where it returns to is refused, nothing moves', async () => {
    const byAdmin = await t.registerAs('admin', 'race-rollback');
    const byBob = await t.registerAs('bob', 'race-rollback');
    const byAlice = await t.registerAs('alice', 'race-rollback');
    await as('dana', (m) => m.promote(byAdmin, 'production'));
    await as('dana', (m) => m.promote(byBob, 'production'));
    // bob rolling back now returns to admin's version: allowed. dana moves production on first.
    const restore = interleave(
      'history',
      (name) => name === 'race-rollback',
      () => as('dana', (m) => m.promote(byAlice, 'production')),
    );
    try {
      const r = await t.call('bob', 'POST', '/api/v1/models/race-rollback/aliases/production/rollback', {});
      expect(await live('race-rollback', 'production'), 'bob rolled production back onto his own version').not.toBe(
        byBob,
      );
      expect([r.status, r.json.error?.code]).toEqual([409, 'ALIAS_MOVED']);
      expect(await live('race-rollback', 'production')).toBe(byAlice);
      const ev = await t.call('admin', 'GET', '/api/v1/audit/events?action=model.rollback');
      expect(ev.json.at(-1).event).toMatchObject({ outcome: 'denied', actor: { id: 'bob' } });
      expect(ev.json.at(-1).event.reason).toMatch(/^ALIAS_MOVED/);
    } finally {
      restore();
    }
    // Asked again, the check sees the new history and refuses bob outright.
    const again = await t.call('bob', 'POST', '/api/v1/models/race-rollback/aliases/production/rollback', {});
    expect([again.status, again.json.error.code]).toEqual([403, 'PERMISSION_DENIED']);
  });

  it('a rollback whose caller expects another version than the one checked is refused', async () => {
    const a = await t.registerAs('admin', 'race-expect');
    const b = await t.registerAs('alice', 'race-expect');
    await as('dana', (m) => m.promote(a, 'production'));
    await as('dana', (m) => m.promote(b, 'production'));
    const wrong = await t.call('bob', 'POST', '/api/v1/models/race-expect/aliases/production/rollback', {
      expect: b,
    });
    expect([wrong.status, wrong.json.error.code]).toEqual([409, 'ALIAS_MOVED']);
    expect(await live('race-expect', 'production')).toBe(b);
    const right = await t.call('bob', 'POST', '/api/v1/models/race-expect/aliases/production/rollback', {
      expect: a,
    });
    expect([right.status, right.json.to]).toEqual([200, a]);
  });

  it('approving one’s own version through an alias is refused (the service resolves it once)', async () => {
    const own = await t.registerAs('bob', 'race-approve');
    await as('alice', (m) => m.promote(own, 'candidate', 'set'));
    const r = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', {
      ref: 'race-approve@candidate',
      alias: 'production',
    });
    expect([r.status, r.json.error.code]).toEqual([403, 'PERMISSION_DENIED']);
    const latest = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', {
      ref: 'race-approve',
      alias: 'production',
    });
    expect(latest.status).toBe(403);
  });
});
