/* eslint-disable @typescript-eslint/no-explicit-any -- audit events are checked field by field */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operations, type Operation } from '../../src/app/remote/contract.js';
import { startTeam, type Team } from '../server/harness.js';
import { bundleVerifies } from './bundle-check.js';

/**
 * "Every request is an audit event with the authenticated identity, denied ones too." A request
 * that passed authentication and its role check but then failed in the handler — a read of a
 * dataset, run or model that does not exist, a tag of a missing version, a cancel of a run
 * nobody submitted, an import with nothing pushed, an Idempotency-Key reused for another
 * request — was answered 4xx and left nothing in the log; so did the store routes' refusals (a
 * contributor writing a pack key or `owners/` directly, reading `proposals/`), a server-side
 * `audit verify`, and an idempotent replay. An insider probing names, or trying to overwrite a
 * pack, left no trace. Each request now leaves exactly one event of its own (or more, from the
 * service), naming the account and its credential.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

async function eventsOf(actor: string): Promise<any[]> {
  const r = await t.call('admin', 'GET', `/api/v1/audit/events?actor=${actor}&limit=100000`);
  expect(r.status).toBe(200);
  return (r.json as Array<{ event: any }>).map((e) => e.event);
}

/** The events `fn` left under `actor`'s name (admin's own listing reads are another actor). */
async function leftBy<R extends { status: number }>(actor: string, fn: () => Promise<R>) {
  const before = (await eventsOf(actor)).length;
  const r = await fn();
  return { r, events: (await eventsOf(actor)).slice(before) };
}

/** The operation called with placeholder arguments that name nothing on the server. */
function placeholderCall(op: Operation): { path: string; body?: unknown } {
  const path = '/api/v1' + op.path.replace(/:([A-Za-z]+)/g, 'zz');
  const required = op.required ?? [];
  if (op.method === 'GET') {
    const q = required.filter((k) => op.query?.[k]).map((k) => `${k}=zz`);
    return { path: q.length ? `${path}?${q.join('&')}` : path };
  }
  const body: Record<string, unknown> = {};
  for (const k of required) {
    const s = op.body?.[k] as { type?: unknown; enum?: unknown[] } | undefined;
    if (!s) continue;
    body[k] = s.type === 'array' ? [] : s.enum ? s.enum[0] : s.type === 'integer' || s.type === 'number' ? 1 : 'zz';
  }
  return { path, body };
}

describe('a request that fails after its role check is still an audit event', () => {
  // Every operation bob (approver) may call, aimed at names that do not exist. The checkpoint
  // fetch is the one request the log leaves out (it is how clients follow the log).
  const ops = (Object.entries(operations) as Array<[string, Operation]>).filter(([id]) => id !== 'audit.checkpoint');
  it.each(ops)('%s', async (id, op) => {
    const call = placeholderCall(op);
    const { r, events } = await leftBy('bob', () =>
      t.call('bob', op.method, call.path, op.method === 'GET' ? undefined : (call.body ?? {})),
    );
    expect(events.length, `${id} answered ${r.status} and left no event`).toBeGreaterThanOrEqual(1);
    for (const e of events) expect(e.actor).toMatchObject({ id: 'bob', auth: 'token', credential: t.tokenIds.bob });
    if (r.status >= 400) {
      const refused = events.find((e) => e.outcome !== 'ok');
      expect(refused, `${id}: the ${r.status} is recorded as not ok`).toBeDefined();
    }
  });

  it('a failed read names the operation, the status and the error code', async () => {
    const { r, events } = await leftBy('carol', () => t.call('carol', 'GET', '/api/v1/runs/no-such-run'));
    expect(r.status).toBe(404);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'server.denied',
      outcome: 'failed',
      target: { type: 'api', name: 'runs.show' },
      params: { status: 404 },
    });
    expect(events[0].reason).toMatch(/^NOT_FOUND: no run no-such-run/);
  });

  it('a failure the service records itself is not recorded twice', async () => {
    // alice promoting past an unmet policy: the service refuses it and records model.promote, denied.
    // (Approving one's own version is refused by the server before the service: server.denied.)
    const ref = await t.registerAs('alice', 'twice');
    const policy = { suites: [], approvals: 1, separateApprover: true };
    expect((await t.call('bob', 'PUT', '/api/v1/models/twice/aliases/staging/policy', policy)).status).toBe(200);
    const { r, events } = await leftBy('alice', () =>
      t.call('alice', 'POST', '/api/v1/model-versions/promotions', { ref, alias: 'staging' }),
    );
    expect(r.json.error?.code, JSON.stringify(r.json)).toBe('POLICY_UNMET');
    // (A promotion re-verifies the version first: model.verify, ok.)
    expect(events.map((e) => [e.action, e.outcome])).toEqual([
      ['model.verify', 'ok'],
      ['model.promote', 'denied'],
    ]);
  });

  it('an Idempotency-Key reused for another request: the 409 is recorded, and a replay is too', async () => {
    const ref = await t.registerAs('alice', 'idem');
    // dana approves under one key, then sends the same request again, then another under it.
    const approve = (alias: string) =>
      t.call('dana', 'POST', '/api/v1/model-versions/approvals', { ref, alias }, { 'idempotency-key': 'k1' });
    const first = await approve('production');
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    const replay = await leftBy('dana', () => approve('production'));
    expect(replay.r.status).toBe(200);
    expect((replay.r as any).headers.get('idempotent-replay')).toBe('true');
    expect(replay.events).toHaveLength(1);
    expect(replay.events[0]).toMatchObject({ outcome: 'ok', params: { replay: true, status: 200 } });
    const other = await leftBy('dana', () => approve('staging'));
    expect(other.r.status).toBe(409);
    expect(other.events).toHaveLength(1);
    expect(other.events[0]).toMatchObject({ action: 'server.denied', outcome: 'failed', params: { status: 409 } });
  });
});

describe('the store routes record their refusals', () => {
  async function raw(who: string, method: string, key: string, body?: Buffer, type = 'application/octet-stream') {
    const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
      method,
      headers: { authorization: `Bearer ${t.tokens[who]}`, ...(body ? { 'content-type': type } : {}) },
      ...(body ? { body } : {}),
    });
    await res.text();
    return { status: res.status };
  }
  const pack = `packs/ab/${'ab'.repeat(32)}.pack`;
  const cases: Array<[string, string, string, number, Buffer?, string?]> = [
    ['a pack key written directly', 'PUT', pack, 403, Buffer.from('garbage')],
    ['owners/ written directly', 'PUT', 'owners/ws.json', 403, Buffer.from('{}')],
    ['proposals/ read', 'GET', 'proposals/x.json', 403],
    ['a missing object read', 'GET', 'audit/nope/entries.jsonl', 404],
    ['a body that is not octets', 'PUT', 'audit/ws1/entries.jsonl', 400, Buffer.from('{}'), 'application/json'],
  ];
  it.each(cases)('%s', async (_what, method, key, status, body, type) => {
    const { r, events } = await leftBy('alice', () => raw('alice', method, key, body, type));
    expect(r.status).toBe(status);
    expect(events, 'the refusal left no event').toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'server.denied',
      outcome: status === 403 ? 'denied' : 'failed',
      actor: { id: 'alice', credential: t.tokenIds.alice },
      params: { status },
    });
  });
});

describe('the log with these events', () => {
  it('verifies from a client (the bundle, with both verifiers)', async () => {
    const b = await bundleVerifies(t);
    expect([b.ok, b.problems]).toEqual([true, []]);
    expect(b.py).toMatch(/^ok: /);
  });
});
