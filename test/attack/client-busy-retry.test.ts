import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { isCairnError } from '../../src/core/errors.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * A client whose first attempt of a write lost its connection while the server still runs it
 * sends the same Idempotency-Key again, and overtakes its own first attempt: the server answers
 * `409 … still running`. The CLI must wait for the first attempt and get its answer (replayed),
 * not report a conflict for a write that is taking effect — and must not wait forever.
 * The first attempt really reaches the server; only its answer is dropped by the client side.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** Delays the runtime's `models.promote` by `ms` (after it started), telling `entered` when a call arrives. */
function slowPromote(ms: number): { entered: Promise<void>; restore: () => void } {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the runtime's lazy services proxy
  const services = t.server.runtime.services as any;
  const real = services.models;
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  services.models = new Proxy(real, {
    get(target, name) {
      if (name !== 'promote') return target[name];
      return async (...args: unknown[]) => {
        enter();
        await new Promise((r) => setTimeout(r, ms));
        return target[name](...args);
      };
    },
  });
  return { entered, restore: () => (services.models = real) };
}

/** A fetch whose first call is sent but whose answer is "lost" (a reset) once the server has it. */
function losingFirstAnswer(entered: Promise<void>): {
  fetch: typeof fetch;
  calls: () => number;
  first: () => Promise<number>;
} {
  let n = 0;
  let first: Promise<number> = Promise.resolve(0);
  const f: typeof fetch = async (input, init) => {
    n++;
    if (n > 1) return fetch(input, init);
    first = fetch(input, init).then(
      async (r) => (await r.text(), r.status),
      () => 0,
    );
    await entered;
    throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
  };
  return { fetch: f, calls: () => n, first: () => first };
}

describe('a retry that overtakes its own first attempt', () => {
  it('waits for the first attempt and gets its answer, done once', async () => {
    const v = await t.registerAs('alice', 'busy-retry');
    const slow = slowPromote(1500);
    const lossy = losingFirstAnswer(slow.entered);
    try {
      const client = new ApiClient({ url: t.server.url, token: t.tokens.alice!, fetch: lossy.fetch });
      const out = await client.call<{ ref: string; alias: string }>('models.promote', {
        body: { ref: v, alias: 'staging' },
      });
      expect(out).toMatchObject({ ref: v, alias: 'staging' });
      expect(lossy.calls()).toBeGreaterThanOrEqual(3); // lost, still running (at least once), replayed
    } finally {
      slow.restore();
    }
    const moves = await t.call('admin', 'GET', '/api/v1/audit/events?action=model.promote');
    expect(
      moves.json.filter((e: { event: { target: { name: string } } }) => e.event.target.name === 'busy-retry'),
    ).toHaveLength(1);
  });

  it('gives up after its bound with the 409, when the first attempt outlasts it', async () => {
    const v = await t.registerAs('alice', 'busy-bound');
    const slow = slowPromote(6000);
    const lossy = losingFirstAnswer(slow.entered);
    try {
      const client = new ApiClient({ url: t.server.url, token: t.tokens.alice!, fetch: lossy.fetch, busyAttempts: 2 });
      const err = await client.call('models.promote', { body: { ref: v, alias: 'staging' } }).catch((e: unknown) => e);
      expect(isCairnError(err, 'IDEMPOTENCY_CONFLICT'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/still running/);
      // Lost, still running, then two more waits, and one more when those two backoffs (random,
      // 300-900 ms together) ended inside the client's 500 ms grace after the first 409.
      expect(lossy.calls()).toBeGreaterThanOrEqual(1 + 1 + 2);
      expect(lossy.calls()).toBeLessThanOrEqual(1 + 1 + 3);
      // The first attempt still completes on the server, once.
      expect(await lossy.first()).toBe(200);
    } finally {
      slow.restore();
    }
  });
});
