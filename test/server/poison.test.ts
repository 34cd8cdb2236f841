/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packFault } from '../../src/storage/pack/reader.js';
import { addVersion } from '../../src/datasets/add.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { useSharedS3 } from '../../src/test-support/s3-server.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { signedInLaptop, startTeam, type Team } from './harness.js';

/**
 * A contributor must not be able to poison deduplication (docs/SERVER.md "Poisoned packs"):
 * garbage uploaded under a pack key someone else will push is checked against the pack's name
 * before anyone else's push relies on it, removed when it fails, and the honest push uploads
 * its own bytes.
 */
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
  carol: 'viewer',
} as const;

const FILES = {
  'a/one.bin': prng(21, 300_000),
  'a/two.bin': prng(22, 200_000),
  'readme.txt': 'cats and dogs\n',
};

async function laptop(t: Team, user: string, files?: Record<string, string | Buffer>) {
  const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
  const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
  if (files) {
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, files);
    await addVersion(ws, { source: src, name: 'images' });
  }
  await ws.close();
  const { env, run } = await signedInLaptop(t, user, dir);
  return { dir, env, run };
}

/** The packs a workspace holds, by store key, with their bytes. */
function localPacks(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^[0-9a-f]{64}\.pack$/.test(e.name)) out.set(`packs/${e.name.slice(0, 2)}/${e.name}`, readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function planned(key: string, bytes: Buffer) {
  return {
    key,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('base64'),
  };
}

/** Uploads `bytes` under `key` as `who` through a plan of its own, as any contributor may. */
async function upload(t: Team, who: string, key: string, bytes: Buffer): Promise<any> {
  const plan = await t.call(who, 'POST', '/api/v1/store/plan', { objects: [planned(key, bytes)] });
  expect(plan.status).toBe(200);
  const up = plan.json.objects[0];
  if (up.present) return up;
  await sendPlanned(t, who, up, bytes);
  if (!t.server.runtime.store!.direct) return up;
  const commit = await t.call(who, 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
  expect(commit.status).toBe(200);
  return up;
}

async function sendPlanned(t: Team, who: string, up: any, bytes: Buffer): Promise<void> {
  const direct = t.server.runtime.store!.direct;
  const res = await fetch(direct ? up.request.url : t.server.url + up.request.url, {
    method: 'PUT',
    headers: direct
      ? up.request.headers
      : { authorization: `Bearer ${t.tokens[who]}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  expect(res.status).toBe(200);
}

async function held(t: Team, key: string): Promise<Buffer> {
  const store = t.server.runtime.store!;
  if (!store.direct) return store.readObject(key);
  const dl = await t.call('carol', 'POST', '/api/v1/store/download', { keys: [key] });
  const r = dl.json.objects[0].request;
  return Buffer.from(await (await fetch(r.url, { headers: r.headers })).arrayBuffer());
}

async function stores(ctx: any): Promise<Array<() => Promise<Team>>> {
  const s3 = needS3(ctx);
  return [
    () =>
      startTeam({
        store: `s3://${s3.bucket}/team-${randomBytes(3).toString('hex')}`,
        storeEndpoint: s3.endpoint,
        roles: ROLES,
      }),
    () => startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES }),
  ];
}

async function poisonedEvents(t: Team): Promise<Array<{ actor: string; params: any }>> {
  const ev = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.store.poisoned');
  expect(ev.status).toBe(200);
  return ev.json.map((e: any) => ({ actor: e.actor ?? e.event?.actor?.id, params: e.event?.params ?? e.params }));
}

async function pulledIntact(t: Team): Promise<void> {
  const carol = await laptop(t, 'carol');
  const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
  expect(pulled.versions).toHaveLength(1);
  const out = mkdtempSync(join(tmpdir(), 'cairn-out-'));
  await carol.run((s) => s.datasets.checkout({ ref: 'images@v1', dir: out }));
  for (const [name, bytes] of Object.entries(FILES))
    expect(readFileSync(join(out, name)).equals(Buffer.from(bytes)), name).toBe(true);
}

describe('poisoned deduplication', () => {
  it("garbage uploaded under alice's pack keys is caught when her push relies on it, removed, named, and her push lands intact", async (ctx) => {
    for (const start of await stores(ctx)) {
      const t = await start();
      teams.push(t);
      const alice = await laptop(t, 'alice', FILES);
      const packs = localPacks(alice.dir);
      expect(packs.size).toBeGreaterThan(0);
      // mallory learned alice's pack keys and sizes, and gets garbage of those sizes in first.
      for (const [key, bytes] of packs) await upload(t, 'mallory', key, prng(99, bytes.length));
      const before = t.server.runtime.store!.integrity();
      const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
      expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 } } });
      expect(pushed.packs.sent).toBe(packs.size);
      const after = t.server.runtime.store!.integrity();
      expect(after.poisoned - before.poisoned).toBe(packs.size);
      // What the store serves under each key is alice's pack, never mallory's garbage.
      for (const [key, bytes] of packs) expect((await held(t, key)).equals(bytes)).toBe(true);
      const named = await poisonedEvents(t);
      expect(named.map((e) => [e.actor, e.params.uploader])).toEqual([...packs.keys()].map(() => ['alice', 'mallory']));
      expect(named.map((e) => e.params.key).sort()).toEqual([...packs.keys()].sort());
      await pulledIntact(t);
    }
  }, 240_000);

  it("a valid pack mallory uploaded is deduped against (checked once); alice's own packs are never checked", async (ctx) => {
    for (const start of await stores(ctx)) {
      const t = await start();
      teams.push(t);
      const alice = await laptop(t, 'alice', FILES);
      const packs = localPacks(alice.dir);
      for (const [key, bytes] of packs) await upload(t, 'mallory', key, bytes);
      const before = t.server.runtime.store!.integrity();
      const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
      expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 } } });
      expect(pushed.packs).toMatchObject({ sent: 0, skipped: packs.size });
      const after = t.server.runtime.store!.integrity();
      expect(after).toEqual({ verified: before.verified + packs.size, poisoned: before.poisoned });
      // Verified once: relying on them again costs nothing.
      for (const [key, bytes] of packs) expect((await upload(t, 'bob', key, bytes)).present).toBe(true);
      expect(t.server.runtime.store!.integrity()).toEqual(after);
      await pulledIntact(t);

      // alice's own uploads: she and only she may rely on them unchecked; bob's plan checks once.
      const mine = await laptop(t, 'alice', { 'b.bin': prng(31, 100_000) });
      const minePacks = [...localPacks(mine.dir)].filter(([k]) => !packs.has(k));
      expect(minePacks.length).toBeGreaterThan(0);
      for (const [key, bytes] of minePacks) await upload(t, 'alice', key, bytes);
      const base = t.server.runtime.store!.integrity();
      for (const [key, bytes] of minePacks) expect((await upload(t, 'alice', key, bytes)).present).toBe(true);
      expect(t.server.runtime.store!.integrity()).toEqual(base);
      for (const [key, bytes] of minePacks) expect((await upload(t, 'bob', key, bytes)).present).toBe(true);
      expect(t.server.runtime.store!.integrity()).toEqual({
        verified: base.verified + minePacks.length,
        poisoned: base.poisoned,
      });
    }
  }, 240_000);

  it("garbage committed while alice's upload of the same key is in flight does not win her commit", async (ctx) => {
    for (const start of await stores(ctx)) {
      const t = await start();
      teams.push(t);
      const alice = await laptop(t, 'alice', FILES);
      const [key, bytes] = [...localPacks(alice.dir)][0]!;
      // Both plan the key while the store does not hold it; mallory's garbage lands first.
      const mine = (await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [planned(key, bytes)] })).json
        .objects[0];
      expect(mine.present).toBe(false);
      await upload(t, 'mallory', key, prng(98, bytes.length));
      await sendPlanned(t, 'alice', mine, bytes);
      if (t.server.runtime.store!.direct) {
        const commit = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [mine.uploadId] });
        expect(commit.status).toBe(200);
      }
      expect((await poisonedEvents(t)).map((e) => e.params)).toMatchObject([{ key, uploader: 'mallory' }]);
      expect((await held(t, key)).equals(bytes)).toBe(true);
      expect(t.server.runtime.store!.integrity().poisoned).toBe(1);
      const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
      expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 } } });
      await pulledIntact(t);
    }
  }, 240_000);
});

describe('packFault', () => {
  it('accepts real packs and refuses any single flipped byte or cut (seeded)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-pf-'));
    const ws = await newWorkspace(dir, { actor: 't@laptop' });
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, { 'x.bin': prng(41, 70_000), 'y.txt': 'hello\n' });
    await addVersion(ws, { source: src, name: 'd' });
    await ws.close();
    const packs = [...localPacks(dir)];
    expect(packs.length).toBeGreaterThan(0);
    const rand = mulberry32(7);
    for (const [key, bytes] of packs) {
      const id = /([0-9a-f]{64})\.pack$/.exec(key)![1]!;
      expect(packFault(bytes, id)).toBeNull();
      expect(packFault(bytes, 'f'.repeat(64))).not.toBeNull();
      for (let i = 0; i < 200; i++) {
        const bad = Buffer.from(bytes);
        const at = Math.floor(rand() * bad.length);
        bad[at]! ^= 1 + Math.floor(rand() * 255);
        // A flip in the padding between blobs (if any) changes nothing a reader sees; every
        // byte of a Cairn pack is header, blob, index or footer, so all flips must be caught.
        expect(packFault(bad, id), `flip at ${at}`).not.toBeNull();
      }
      expect(packFault(bytes.subarray(0, bytes.length - 1), id)).not.toBeNull();
      expect(packFault(Buffer.alloc(0), id)).not.toBeNull();
    }
  }, 60_000);
});
