/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operations } from '../../src/app/remote/contract.js';
import { ApiClient } from '../../src/app/remote/client.js';
import { createRemoteServices } from '../../src/app/remote/services.js';
import { verifyReleaseBundle } from '../../src/models/index.js';
import { postgresAvailable } from '../../src/test-support/services.js';
import { cli } from '../../src/test-support/cli.js';
import { startTeam, teamPerDatabase, type Team } from './harness.js';

const pg = await postgresAvailable();

async function eventsOf(t: Team, filter: { action?: string; actor?: string }) {
  const r = await t.call(
    'admin',
    'GET',
    `/api/v1/audit/events?${new URLSearchParams(filter as Record<string, string>)}`,
  );
  expect(r.status).toBe(200);
  return r.json as Array<{ index: number; event: any }>;
}

// The same behaviour on the embedded default and on PostgreSQL (a team's database).
describe.each([
  ['sqlite', false],
  ['postgres', true],
])('team server on %s', (_name, usePg) => {
  let t: Team;
  // CAIRN_ACTOR in the server's environment must change nothing: identities come from credentials.
  const skip = teamPerDatabase(
    usePg,
    pg,
    (db) => startTeam({ ...db, env: { ...process.env, CAIRN_ACTOR: 'mallory' } }),
    (team) => (t = team),
  );

  it('answers health, readiness, metrics and its OpenAPI document', async () => {
    if (skip()) return;
    expect((await t.call(null, 'GET', '/healthz')).json).toEqual({ ok: true });
    expect((await t.call(null, 'GET', '/readyz')).json).toEqual({ ready: true });
    const doc = (await t.call(null, 'GET', '/api/v1/openapi.json')).json;
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((p) =>
      Object.values(p).map((o) => o.operationId),
    );
    expect(ids.sort()).toEqual(Object.keys(operations).sort());
    await t.call('carol', 'GET', '/api/v1/datasets');
    const metrics = (await t.call(null, 'GET', '/metrics')).json as string;
    expect(metrics).toMatch(/cairn_http_requests_total\{operation="datasets.list",status="200"\} \d+/);
  });

  it('refuses requests without a valid credential, and records each refusal', async () => {
    if (skip()) return;
    const none = await t.call(null, 'GET', '/api/v1/datasets');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHENTICATED');
    const forged = t.tokens.alice!.slice(0, -4) + 'AAAA';
    expect((await t.call(forged, 'GET', '/api/v1/datasets')).status).toBe(401);
    expect((await t.call('not-a-token', 'GET', '/api/v1/datasets')).status).toBe(401);
    const denied = await eventsOf(t, { action: 'server.denied' });
    expect(denied.length).toBeGreaterThanOrEqual(3);
    expect(denied.every((e) => e.event.outcome === 'denied')).toBe(true);
    expect(denied.some((e) => e.event.actor.id === 'anonymous' && e.event.params.token === t.tokenIds.alice)).toBe(
      true,
    );
  });

  it('refuses revoked and expired tokens and disabled accounts', async () => {
    if (skip()) return;
    const rt = t.server.runtime;
    const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };
    const short = await rt.runAs(host, () => rt.identity.createToken('carol', { expiresInMs: 1 }));
    await new Promise((r) => setTimeout(r, 20));
    const expired = await t.call(short.token, 'GET', '/api/v1/datasets');
    expect(expired.status).toBe(401);
    expect(expired.json.error.message).toMatch(/expired/);
    const other = await rt.runAs(host, () => rt.identity.createToken('carol'));
    expect((await t.call(other.token, 'GET', '/api/v1/datasets')).status).toBe(200);
    expect((await t.call('admin', 'DELETE', `/api/v1/tokens/${other.id}`)).status).toBe(200);
    const revoked = await t.call(other.token, 'GET', '/api/v1/datasets');
    expect(revoked.status).toBe(401);
    expect(revoked.json.error.message).toMatch(/revoked/);
  });

  it('denies by role: a viewer reads but does not write; only admins manage accounts', async () => {
    if (skip()) return;
    expect((await t.call('carol', 'GET', '/api/v1/models')).status).toBe(200);
    const tag = await t.call('carol', 'POST', '/api/v1/versions/tags', { ref: 'x@v1', tag: 'good' });
    expect(tag.status).toBe(403);
    expect(tag.json.error.code).toBe('PERMISSION_DENIED');
    expect((await t.call('alice', 'GET', '/api/v1/accounts')).status).toBe(403);
    expect((await t.call('alice', 'POST', '/api/v1/tokens', { user: 'alice' })).status).toBe(403);
    const denied = await eventsOf(t, { action: 'server.denied', actor: 'carol' });
    const ev = denied.at(-1)!.event;
    expect(ev.actor).toEqual({ id: 'carol', auth: 'token', credential: t.tokenIds.carol });
    expect(ev.target).toEqual({ type: 'api', name: 'datasets.tag' });
  });

  it('sees grant and account changes made by another process on the next request (identity kept only while unchanged)', async () => {
    if (skip()) return;
    const rt = t.server.runtime;
    const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };
    await rt.runAs(host, () => rt.identity.addAccount({ name: 'erin', role: 'viewer' }));
    const erin = (await rt.runAs(host, () => rt.identity.createToken('erin'))).token;
    const tag = () => t.call(erin, 'POST', '/api/v1/versions/tags', { ref: 'nothing@v1', tag: 'x' });
    // Read twice so what the server knows of erin is kept, then change it from the host's CLI.
    expect((await t.call(erin, 'GET', '/api/v1/datasets')).status).toBe(200);
    expect((await tag()).status).toBe(403);
    const asHost = (args: string[]) =>
      cli([...args, '--data-dir', t.dataDir], { cwd: t.dataDir, env: { CAIRN_SERVER: '' } });
    expect(asHost(['server', 'grant', 'user:erin', 'contributor']).code).toBe(0);
    expect((await tag()).json.error.code).toBe('NOT_FOUND');
    expect(asHost(['server', 'grant', 'user:erin', 'none']).code).toBe(0);
    expect((await tag()).status).toBe(403);
    expect(asHost(['server', 'user', 'disable', 'erin']).code).toBe(0);
    const off = await t.call(erin, 'GET', '/api/v1/datasets');
    expect(off.status).toBe(401);
    expect(off.json.error.message).toMatch(/disabled/);
  });

  it('refuses malformed JSON, unknown fields, wrong types and oversized bodies with stable codes', async () => {
    if (skip()) return;
    const bad = await t.call('alice', 'POST', '/api/v1/versions/tags', '{"ref": ', {});
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('USAGE');
    const unknown = await t.call('alice', 'POST', '/api/v1/versions/tags', { ref: 'a@v1', tag: 't', evil: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toMatch(/additional/);
    const wrong = await t.call('alice', 'GET', '/api/v1/runs?limit=-5');
    expect(wrong.status).toBe(400);
    const big = await t.call('alice', 'POST', '/api/v1/versions/tags', { ref: 'a@v1', tag: 'x'.repeat(2_000_000) });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await t.call('alice', 'GET', '/api/v1/nothing-here')).json.error.code).toBe('NOT_FOUND');
  });

  it('approvals and protected aliases follow the authenticated identity, never CAIRN_ACTOR', async () => {
    if (skip()) return;
    const ref = await t.registerAs('dana', 'churn');
    // dana registered it: as an approver she still may not approve or promote her own version.
    const self = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', { ref, alias: 'production' });
    expect(self.status).toBe(403);
    expect(self.json.error.message).toMatch(/may not approve/);
    // alice is a contributor: production is protected.
    const contrib = await t.call('alice', 'POST', '/api/v1/model-versions/promotions', { ref, alias: 'production' });
    expect(contrib.status).toBe(403);
    const selfPromote = await t.call('dana', 'POST', '/api/v1/model-versions/promotions', { ref, alias: 'production' });
    expect(selfPromote.status).toBe(403);
    expect(selfPromote.json.error.message).toMatch(/trained or registered/);
    const ok = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref, alias: 'production' });
    expect(ok.status).toBe(200);
    expect(ok.json.approver).toBe('bob');
    const promoted = await t.call('bob', 'POST', '/api/v1/model-versions/promotions', { ref, alias: 'production' });
    expect(promoted.status).toBe(200);
    // staging is not protected: a contributor may move it.
    expect((await t.call('alice', 'POST', '/api/v1/model-versions/promotions', { ref, alias: 'staging' })).status).toBe(
      200,
    );
    const approvals = await eventsOf(t, { action: 'model.approve' });
    expect(approvals.map((e) => [e.event.actor.id, e.event.outcome])).toEqual([['bob', 'ok']]);
    // dana's attempt was refused by the server before the service, whatever the alias's policy.
    const denied = await eventsOf(t, { action: 'server.denied', actor: 'dana' });
    expect(denied.map((e) => [e.event.target.name, e.event.outcome])).toContainEqual(['models.approve', 'denied']);
    const all = await eventsOf(t, {});
    expect(all.some((e) => e.event.actor.id === 'mallory')).toBe(false);
  });

  it('runs a write once per idempotency key, replays its answer, refuses the key for another request', async () => {
    if (skip()) return;
    const ref = await t.registerAs('alice', 'idem');
    const key = { 'idempotency-key': `k-${Math.random()}` };
    const a = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref, alias: 'staging' }, key);
    const b = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref, alias: 'staging' }, key);
    expect(a.status).toBe(200);
    expect(b.json).toEqual(a.json);
    expect(b.headers.get('idempotent-replay')).toBe('true');
    const c = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref, alias: 'production' }, key);
    expect(c.status).toBe(409);
    expect(c.json.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const approvals = (await eventsOf(t, { action: 'model.approve' })).filter((e) => e.event.target.name === 'idem');
    expect(approvals).toHaveLength(1);
  });

  it("one request whose event is refused (a credential in its query) does not fail others' events in its batch", async () => {
    if (skip()) return;
    const rt = t.server.runtime;
    const scope = { actor: { id: 'carol', auth: 'token' as const }, command: 'api test' };
    const event = (target: string) =>
      rt.recordRequest({
        draft: { action: 'server.read', target: { type: 'api', name: 'audit.events' }, params: { query: { target } } },
        outcome: 'ok',
        context: rt.contextFor(scope),
      });
    // Added in one tick: they share a group commit.
    const out = await Promise.allSettled([
      event('s3://AKIA:secret@host/b'),
      ...Array.from({ length: 20 }, (_, i) => event(`model:m${i}`)),
    ]);
    expect(out[0]!.status).toBe('rejected');
    expect(out.slice(1).map((r) => r.status)).toEqual(Array(20).fill('fulfilled'));
  });

  it('records every read with the identity that made it, and the log verifies', async () => {
    if (skip()) return;
    const before = (await eventsOf(t, { action: 'server.read', actor: 'carol' })).length;
    await Promise.all(Array.from({ length: 25 }, () => t.call('carol', 'GET', '/api/v1/models')));
    const after = await eventsOf(t, { action: 'server.read', actor: 'carol' });
    // +25 reads, and the two eventsOf calls are admin's.
    expect(after.length - before).toBe(25);
    const v = await t.call('admin', 'POST', '/api/v1/audit/verify', {});
    expect(v.status).toBe(200);
    expect(v.json.ok).toBe(true);
    expect(v.json.problems).toEqual([]);
  });

  it('writes a signed release bundle of a server version into a new local folder, and refuses a hostile file name', async () => {
    if (skip()) return;
    const ref = await t.trainAs('alice', 'shipme');
    const api = new ApiClient({ url: t.server.url, token: t.tokens.alice! });
    const services = createRemoteServices(api, {
      url: t.server.url,
      token: '',
      user: 'alice',
      verifierKey: t.server.runtime.verifierKey,
      origin: t.server.runtime.origin,
      seen: null,
    });
    const out = join(mkdtempSync(join(tmpdir(), 'cairn-rel-')), 'bundle');
    const r = await services.releases.create(ref, out);
    expect(r).toMatchObject({ dir: out, model: ref });
    // The server signs releases with its release key, not with its audit checkpoint key.
    const pem = readFileSync(join(t.dataDir, '.cairn', 'keys', 'release.pub'), 'utf8');
    expect(pem).not.toBe(readFileSync(join(t.dataDir, '.cairn', 'keys', 'signing.pub'), 'utf8'));
    const report = await verifyReleaseBundle(out, { trustedPublicKeyPem: pem });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, omsChecked: true, omsKeyTrusted: true });
    expect((await t.call('carol', 'POST', '/api/v1/releases', { ref })).status).toBe(403);
    // A hostile server answering with a name outside the folder: nothing is written.
    const hostile = new ApiClient({
      url: t.server.url,
      token: 'x',
      fetch: async () =>
        new Response(JSON.stringify({ result: r, files: { '../escaped.txt': 'aGk=' } }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
    });
    const bad = createRemoteServices(hostile, {
      url: t.server.url,
      token: 'x',
      user: 'a',
      verifierKey: '',
      origin: '',
      seen: null,
    });
    const out2 = join(mkdtempSync(join(tmpdir(), 'cairn-rel-')), 'b');
    await expect(bad.releases.create(ref, out2)).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
    expect(() => readFileSync(join(out2, '..', 'escaped.txt'))).toThrow();
  });
});
