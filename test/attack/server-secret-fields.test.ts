import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';
import { bundleVerifies } from './bundle-check.js';

/**
 * A careless admin pastes a token into the label of a new token; an approver pastes a cloud key
 * into a rollback's override reason. The log is signed, kept forever and pushed to every remote:
 * whatever a write records of its own fields can never be taken back. A write carrying a
 * credential-shaped string anywhere in its body or path is refused (`422 SECRET_IN_INPUT`,
 * naming the field and the kind of credential, never the value), recorded as `server.denied`
 * without the value, and nothing of it happens.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

// Shapes of real credentials, made up (none of them is live anywhere).
const fakeAws = 'AKIA' + 'Z7Q2X9M4K3LPW8RT';
const fakeGithub = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
const fakeJwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('credentials pasted into a write’s own fields', () => {
  it('a token label holding a Cairn token: refused, recorded without it, no token issued', async () => {
    const pasted = t.tokens.bob!;
    const before = await t.call('admin', 'GET', '/api/v1/tokens');
    const r = await t.call('admin', 'POST', '/api/v1/tokens', { user: 'alice', label: `ci ${pasted}` });
    expect([r.status, r.json.error?.code], JSON.stringify(r.json)).toEqual([422, 'SECRET_IN_INPUT']);
    expect(r.json.error.data).toMatchObject({ field: 'body.label', kind: 'a Cairn API token' });
    expect(JSON.stringify(r.json)).not.toContain(pasted.split('_').slice(2).join('_'));
    const after = await t.call('admin', 'GET', '/api/v1/tokens');
    expect(after.json.length).toBe(before.json.length);
    const denied = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied&actor=admin');
    const e = denied.json.at(-1).event;
    expect(e.target).toEqual({ type: 'api', name: 'tokens.create' });
    expect(e.params).toMatchObject({ status: 422, field: 'body.label' });
    expect(e.reason).toMatch(/^SECRET_IN_INPUT: /);
  });

  it.each([
    ['an AWS access key id', fakeAws],
    ['a GitHub token', fakeGithub],
    ['a JSON Web Token', fakeJwt],
  ])('%s in a legal hold’s reason is refused', async (kind, secret) => {
    const r = await t.call('bob', 'POST', '/api/v1/compliance/holds', { ref: 'nope@v1', reason: `see ${secret} :)` });
    expect([r.status, r.json.error?.code], JSON.stringify(r.json)).toEqual([422, 'SECRET_IN_INPUT']);
    expect(r.json.error.data.kind).toContain(kind.split(' ').at(-1));
  });

  it('a credential as an object key or deep in an open object (a model signature) is refused', async () => {
    const r = await t.call('alice', 'POST', '/api/v1/models/sig/versions', {
      fromRun: 'nope',
      signature: { inputs: [{ name: 'x', note: { [fakeAws]: 1 } }] },
    });
    expect([r.status, r.json.error?.code], JSON.stringify(r.json)).toEqual([422, 'SECRET_IN_INPUT']);
    expect(r.json.error.data.field).toBe(`body.signature.inputs[0].note.${'<key>'}`);
  });

  it('a bare cloud secret or a password under a credential-named key of a model signature is refused', async () => {
    const bare = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYz3Q9v2Lk8T';
    for (const [note, kind] of [
      [{ aws_secret_access_key: bare }, "a secret under a credential's name"],
      [{ dbPassword: 'hunter2-prod' }, 'a password'],
    ] as const) {
      const r = await t.call('alice', 'POST', '/api/v1/models/sig/versions', {
        fromRun: 'nope',
        signature: { inputs: [{ name: 'x', note }] },
      });
      expect([r.status, r.json.error?.code], JSON.stringify(r.json)).toEqual([422, 'SECRET_IN_INPUT']);
      expect(r.json.error.data.kind).toBe(kind);
      expect(JSON.stringify(r.json)).not.toContain(Object.values(note)[0]);
    }
  });

  it('a credential in a write’s path is refused too', async () => {
    const r = await t.call('bob', 'DELETE', `/api/v1/models/${fakeGithub}/aliases/staging`);
    expect([r.status, r.json.error?.code], JSON.stringify(r.json)).toEqual([422, 'SECRET_IN_INPUT']);
  });

  it('ordinary text that only resembles a prefix passes, and the log verifies without any of the secrets', async () => {
    const ok = await t.call('admin', 'POST', '/api/v1/tokens', {
      user: 'alice',
      label: 'AKIA-rotation sk-learn ghp eyJ hf_ cairn_tok notes',
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    const b = await bundleVerifies(t);
    expect([b.ok, b.problems]).toEqual([true, []]);
    expect(b.py).toMatch(/^ok: /);
    for (const s of [
      fakeAws,
      fakeGithub,
      fakeJwt,
      t.tokens.bob!.split('_').slice(2).join('_'),
      'wJalrXUtnFEMI',
      'hunter2-prod',
    ])
      expect(b.text).not.toContain(s);
  });
});
