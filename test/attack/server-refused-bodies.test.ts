/* eslint-disable @typescript-eslint/no-explicit-any -- audit events are checked field by field */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';
import { bundleVerifies } from './bundle-check.js';

/**
 * "Every request is an audit event; denied requests too." A body the server refuses before any
 * handler runs (malformed JSON, too large, unknown fields, wrong types, too deep, prototype
 * poisoning, a wrong content type) was answered 4xx and left nothing in the log: an insider
 * probing the API with garbage left no trace. Each must be a `server.denied` event naming the
 * authenticated account, the status, the size and a fixed reason — never the body itself (it may
 * hold a pasted secret, or be megabytes).
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const SECRET = 'hunter2-do-not-log-this';

async function deniedOf(actor: string): Promise<any[]> {
  const r = await t.call('admin', 'GET', `/api/v1/audit/events?action=server.denied&actor=${actor}`);
  expect(r.status).toBe(200);
  return (r.json as Array<{ event: any }>).map((e) => e.event);
}

describe('refused request bodies are audited, without the body', () => {
  const cases: Array<[string, string, number, string, string | object, Record<string, string>?]> = [
    ['malformed JSON', 'POST', 400, '/api/v1/versions/tags', `{"ref": "${SECRET}", tag: }`],
    ['an unknown field', 'POST', 400, '/api/v1/versions/tags', { ref: 'a@v1', tag: 't', note: SECRET }],
    ['a wrong type', 'POST', 400, '/api/v1/versions/tags', { ref: 'a@v1', tag: 7, force: SECRET }],
    [
      'nesting past the limit',
      'POST',
      400,
      '/api/v1/versions/tags',
      `{"ref":"${SECRET}","x":${'['.repeat(70)}${']'.repeat(70)}}`,
    ],
    ['prototype poisoning', 'POST', 400, '/api/v1/versions/tags', `{"ref":"${SECRET}","__proto__":{"x":1}}`],
    ['an unknown query field', 'GET', 400, `/api/v1/datasets?sneaky=${SECRET}`, ''],
    ['a body over the limit', 'POST', 413, '/api/v1/versions/tags', `{"ref":"${SECRET}${'x'.repeat(1_100_000)}"}`],
    [
      'a content type the server does not take',
      'POST',
      400, // 415 from Fastify, answered as USAGE
      '/api/v1/versions/tags',
      SECRET,
      { 'content-type': 'application/xml' },
    ],
  ];
  it.each(cases)(
    '%s: answered with a stable code and recorded as server.denied',
    async (_what, method, status, path, body, headers) => {
      const before = (await deniedOf('alice')).length;
      const r = await t.call('alice', method, path, method === 'GET' ? undefined : body, headers ?? {});
      expect(r.status, JSON.stringify(r.json).slice(0, 200)).toBe(status);
      expect(['USAGE', 'PAYLOAD_TOO_LARGE']).toContain(r.json.error.code);
      const after = await deniedOf('alice');
      expect(after.length, 'the refusal left no audit event').toBe(before + 1);
      const e = after.at(-1);
      expect(e.outcome).toBe('denied');
      expect(e.actor).toMatchObject({ id: 'alice', auth: 'token', credential: t.tokenIds.alice });
      expect(e.params.status).toBe(status);
      expect(e.reason).toMatch(/^(USAGE|PAYLOAD_TOO_LARGE): /);
      expect(JSON.stringify(e)).not.toContain(SECRET);
      expect(JSON.stringify(e)).not.toContain('xxxxxxxx');
    },
  );

  it('the log with these events still verifies from a client (the bundle)', async () => {
    const r = await t.call('admin', 'POST', '/api/v1/audit/verify', {});
    expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(200);
    expect([r.json.ok, r.json.problems]).toEqual([true, []]);
    const b = await bundleVerifies(t);
    expect([b.ok, b.problems]).toEqual([true, []]);
    expect(b.py).toMatch(/^ok: /);
    expect(b.text).not.toContain(SECRET);
  });

  it('an unauthenticated garbage body is refused 401 before it is read (one event, no body)', async () => {
    const r = await t.call(null, 'POST', '/api/v1/versions/tags', `{"ref":"${SECRET}", bad`);
    expect(r.status).toBe(401);
    expect((await bundleVerifies(t)).text).not.toContain(SECRET);
  });
});
