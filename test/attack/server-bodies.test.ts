import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonDepth } from '../../src/server/json-body.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * Bodies no client of ours sends, from a contributor with a valid token: deeply nested JSON in a
 * field the contract leaves open (a model signature), with and without an Idempotency-Key (whose
 * digest walks the whole body).
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('hostile request bodies', () => {
  it.each([
    ['without', {}],
    ['with', { 'idempotency-key': 'deep-1' }],
  ])(
    'JSON nested 100,000 deep %s an Idempotency-Key: a 4xx with a stable code, and the server goes on',
    async (_w, headers) => {
      const body = `{"fromRun":"nope","signature":${nested(100_000)}}`;
      const r = await t.call('alice', 'POST', '/api/v1/models/deep/versions', body, headers as Record<string, string>);
      expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBeGreaterThanOrEqual(400);
      expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBeLessThan(500);
      expect((await t.call(null, 'GET', '/healthz')).status).toBe(200);
    },
  );

  it('brackets inside strings do not count, and prototype poisoning is still refused', async () => {
    // 100,000 brackets as text: the request reaches the service (which has no such run).
    const text = await t.call('alice', 'POST', '/api/v1/models/deep/versions', {
      fromRun: 'nope',
      signature: { note: '[{'.repeat(50_000), quoted: '\\"[[' },
    });
    expect(text.json.error.code, JSON.stringify(text.json)).toBe('NOT_FOUND');
    const poisoned = await t.call(
      'alice',
      'POST',
      '/api/v1/models/deep/versions',
      '{"fromRun":"nope","signature":{"__proto__":{"admin":true}}}',
    );
    expect([poisoned.status, poisoned.json.error.code]).toEqual([400, 'USAGE']);
  });

  it('jsonDepth agrees with the nesting JSON.parse finds, for seeded random JSON values', () => {
    const rnd = mulberry32(0x5eed);
    const texts = ['', 'a', '[', ']', '{', '}', '"', '\\', '\\"', '[{"x":"}]"}]', '\u005b'];
    const value = (d: number): unknown => {
      const k = Math.floor(rnd() * (d > 6 ? 3 : 5));
      if (k === 0) return texts[Math.floor(rnd() * texts.length)]!.repeat(1 + Math.floor(rnd() * 3));
      if (k === 1) return rnd() < 0.5 ? null : Math.floor(rnd() * 100);
      if (k === 2) return rnd() < 0.5;
      const n = Math.floor(rnd() * 4);
      const items = Array.from({ length: n }, () => value(d + 1));
      return k === 3 ? items : Object.fromEntries(items.map((v, i) => [texts[i % texts.length]! + i, v]));
    };
    const depthOf = (v: unknown): number =>
      v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    for (let i = 0; i < 2000; i++) {
      const v = value(0);
      expect(jsonDepth(JSON.stringify(v)), JSON.stringify(v)).toBe(depthOf(v));
    }
  });
});
