/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// A model version registered offline joins the team record by `cairn push` (docs/SERVER.md
// "Model versions"): the server imports it only when the pushed, verified log registers exactly
// that version; the authenticated account that pushed it is its registrant on the server, so
// separation of duties keeps that account from approving it. Real server, real HTTP, a folder
// store and an S3 store (s3rver), real workspaces.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { useSharedS3 } from '../../src/test-support/s3-server.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team, storeObject } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

const needS3 = useSharedS3();
const ROLES = {
  admin: 'admin',
  alice: 'contributor',
  mallory: 'contributor',
  bob: 'approver',
  dana: 'approver',
  carol: 'viewer',
} as const;

const laptop = (t: Team, user: string) => newLaptop(t, user, 'cairn-mp');

function modelFiles(seed: number): string {
  const src = mkdtempSync(join(tmpdir(), 'cairn-mp-model-'));
  writeTree(src, { 'model.onnx': prng(seed, 60_000), 'labels.txt': `spam\nham\n${seed}\n` });
  return src;
}

const raw = storeObject;

/** bob registers spam@v1 on his laptop, offline, and pushes it to the team server. */
async function modelStory(t: Team) {
  const bob = await laptop(t, 'bob');
  const reg: any = await bob.run((s) => s.models.register({ name: 'spam', path: modelFiles(1) }));
  const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(pushed).toMatchObject({ models: ['spam@v1'], server: { imported: { versions: 1, modelVersions: 1 } } });
  expect(pushed.server.skippedModels).toEqual([]);

  // On the server: the version under the origin's number, its registrant the account that pushed.
  const versions = await t.call('carol', 'GET', '/api/v1/models/spam/versions');
  expect(versions.status).toBe(200);
  expect(versions.json).toMatchObject([{ ref: 'spam@v1', digest: reg.digest, by: 'bob', aliases: [] }]);
  const shown = await t.call('carol', 'GET', '/api/v1/model-versions/show?ref=spam%40v1');
  expect(shown.json).toMatchObject({ ref: 'spam@v1', digest: reg.digest, by: 'bob', authors: ['bob'] });
  const card = await t.call('carol', 'GET', '/api/v1/model-versions/card?ref=spam%40v1');
  // The card travelled as registered: it names the origin's registrant and the version's digest.
  expect(card.json).toMatchObject({
    model: { name: 'spam', version: 1, digest: reg.digest },
    registered: { by: 'bob@laptop' },
  });
  // Provenance: the import event, as bob, names the origin workspace's event that vouches for it.
  const ev = await t.call('carol', 'GET', '/api/v1/audit/events?action=remote.pull');
  const imp = ev.json.find((e: any) => e.event.params.importedModels);
  expect(imp.event.actor).toMatchObject({ id: 'bob', auth: 'token' });
  expect(imp.event.params.importedModels).toMatchObject([
    {
      model: 'spam',
      number: 1,
      digest: reg.digest,
      author: 'bob@laptop',
      registrant: 'bob',
      workspace: expect.any(String),
      index: expect.any(Number),
    },
  ]);
  // The row is bound to the import event (the bytes stay in the store: docs/SERVER.md "Model versions").
  // Its files are pulled from the store into the server's workspace on first need, and re-hash.
  const verified = await t.call('alice', 'POST', '/api/v1/model-versions/verify', { ref: 'spam@v1' });
  expect(verified.json).toMatchObject({ ok: true, stateProblems: [], problems: [], registeredAt: imp.index });
  const audit = await t.call('carol', 'POST', '/api/v1/audit/verify', {});
  expect(audit.json.ok, JSON.stringify(audit.json.problems)).toBe(true);

  // Separation of duties: bob pushed it, so bob may not approve it; dana may. Aliases stay the server's.
  const self = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: 'spam@v1', alias: 'production' });
  expect(self.status).toBe(403);
  expect(self.json.error.code).toBe('PERMISSION_DENIED');
  const other = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', {
    ref: 'spam@v1',
    alias: 'production',
  });
  expect(other.status, JSON.stringify(other.json)).toBe(200);
  const promoted = await t.call('dana', 'POST', '/api/v1/model-versions/promotions', {
    ref: 'spam@v1',
    alias: 'production',
  });
  expect(promoted.status, JSON.stringify(promoted.json)).toBe(200);

  // Idempotent: a second push records nothing new.
  const again: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(again.server.imported).toMatchObject({ versions: 0, modelVersions: 0 });
  expect((await t.call('carol', 'GET', '/api/v1/models/spam/versions')).json).toHaveLength(1);

  // A teammate pulls it from the server, with its bytes; it verifies there too.
  const carol = await laptop(t, 'carol');
  const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
  expect(pulled.models.imported).toMatchObject([{ model: 'spam', number: 1, digest: reg.digest }]);
  expect(((await carol.run((s) => s.models.verify('spam@v1'))) as any).ok).toBe(true);
  return { bob, reg };
}

describe('model versions pushed to a team server', () => {
  it('folder store: imported with provenance, the pusher is the registrant and may not approve it; idempotent', async () => {
    const t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES });
    teams.push(t);
    await modelStory(t);
  }, 180_000);

  it('S3 store (presigned URLs): the same', async (ctx) => {
    const s3 = needS3(ctx);
    const t = await startTeam({
      store: `s3://${s3.bucket}/team-${randomBytes(3).toString('hex')}`,
      storeEndpoint: s3.endpoint,
      roles: ROLES,
    });
    teams.push(t);
    expect(t.server.runtime.store!.direct).toBe(true);
    await modelStory(t);
  }, 180_000);

  it('hostile proposals: a made-up version is refused and recorded, a re-listed version keeps the server row, a clash is DIVERGED', async () => {
    const t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES });
    teams.push(t);
    const bob = await laptop(t, 'bob');
    await bob.run((s) => s.models.register({ name: 'spam', path: modelFiles(2) }));
    await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    const state = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;
    const v1 = state.modelVersions[0];
    expect(v1).toMatchObject({ number: 1, created_by: 'bob' });

    // mallory lists a spam@v2 nobody registered (v1's files): the import leaves it out and records why.
    const forged = { ...v1, id: `forged-${randomBytes(4).toString('hex')}`, number: 2, created_by: 'mallory' };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, modelVersions: [v1, forged] })).status).toBe(
      200,
    );
    const imp = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
    expect(imp.status, JSON.stringify(imp.json)).toBe(200);
    expect(imp.json.skippedModels).toMatchObject([
      { model: 'spam', number: 2, why: expect.stringMatching(/no event/) },
    ]);
    expect((await t.call('carol', 'GET', '/api/v1/models/spam/versions')).json.map((v: any) => v.ref)).toEqual([
      'spam@v1',
    ]);
    const ev = await t.call('carol', 'GET', '/api/v1/audit/events?action=remote.pull');
    expect(JSON.stringify(ev.json.map((e: any) => e.event.params.skippedModels ?? null))).toContain('"number":2');
    expect((await raw(t, 'carol', 'GET', 'meta/state.json')).json.modelVersions).toEqual([v1]);

    // Re-listing bob's spam@v1 under another digest: DIVERGED at once, nothing changes.
    const other = { ...v1, digest: randomBytes(32).toString('hex') };
    const clash = await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, modelVersions: [other] });
    expect(clash.status).toBe(409);
    expect(clash.json.error.code).toBe('DIVERGED');
    // The same id and digest with another card and registrant: the server's row stays.
    const doctored = { ...v1, card: '{"metrics":{"accuracy":1}}', created_by: 'mallory' };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, modelVersions: [doctored] })).status).toBe(
      200,
    );
    expect((await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] })).status).toBe(200);
    expect((await raw(t, 'carol', 'GET', 'meta/state.json')).json.modelVersions).toEqual([v1]);
    const shown = await t.call('carol', 'GET', '/api/v1/model-versions/show?ref=spam%40v1');
    expect(shown.json.by).toBe('bob');

    // A workspace whose row no longer matches its own log (the card edited with SQL): the server
    // leaves the version out and the push says so.
    const eve = await laptop(t, 'alice');
    await eve.run((s) => s.models.register({ name: 'ham', path: modelFiles(4) }));
    const db = rawSqlite(eve.dir);
    await db.run(`UPDATE model_versions SET card = ?`, ['{"metrics":{"accuracy":0.99}}']);
    await db.close();
    await expect(eve.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({
      code: 'NOT_VOUCHED',
      data: { models: [{ model: 'ham', number: 1, why: expect.stringMatching(/card/) }] },
    });
    expect((await t.call('carol', 'GET', '/api/v1/models/ham/versions')).status).toBe(404);

    // mallory's own spam@v1, registered from nothing offline: the push is refused (DIVERGED).
    const m = await laptop(t, 'mallory');
    await m.run((s) => s.models.register({ name: 'spam', path: modelFiles(3) }));
    await expect(m.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({ code: 'DIVERGED' });
    expect((await t.call('carol', 'GET', '/api/v1/models/spam/versions')).json).toHaveLength(1);
  }, 180_000);
});
