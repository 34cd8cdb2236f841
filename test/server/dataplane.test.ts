/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addVersion } from '../../src/datasets/add.js';
import { useSharedS3 } from '../../src/test-support/s3-server.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startFaultProxy } from '../../src/transfer/backends/s3/fault-proxy.case.js';
import { signedInLaptop, startTeam, type Team } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

const needS3 = useSharedS3();

/** A person's laptop: a workspace, and the token of their account on the team server. */
async function laptop(t: Team, user: string, files?: Record<string, string | Buffer>, name = 'images') {
  const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
  const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
  if (files) {
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, files);
    await addVersion(ws, { source: src, name });
  }
  await ws.close();
  const { env, run } = await signedInLaptop(t, user, dir);
  return { dir, env, run };
}

const FILES = {
  'a/one.bin': prng(1, 300_000),
  'a/two.bin': prng(2, 200_000),
  'readme.txt': 'cats and dogs\n',
};

function planned(bytes: Buffer, id = randomBytes(32).toString('hex')) {
  return {
    key: `packs/${id.slice(0, 2)}/${id}.pack`,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('base64'),
  };
}

async function putRaw(t: Team, who: string | null, path: string, body: Buffer) {
  const res = await fetch(t.server.url + path, {
    method: 'PUT',
    headers: {
      'content-type': 'application/octet-stream',
      ...(who ? { authorization: `Bearer ${t.tokens[who]}` } : {}),
    },
    body,
  });
  return { status: res.status, json: (await res.json()) as any };
}

async function dataPlaneStory(t: Team) {
  const alice = await laptop(t, 'alice', FILES);
  const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 }, vouched: 1, skipped: 0 } });
  expect(pushed.packs.sent).toBeGreaterThan(0);
  // The server's metadata now holds the version, for everyone with a role.
  const ls = await t.call('carol', 'GET', '/api/v1/datasets');
  expect(ls.status).toBe(200);
  expect(JSON.stringify(ls.json)).toContain('images');
  // Recorded as alice (the token's account), with the pushed log verified on arrival.
  const ev = await t.call('carol', 'GET', '/api/v1/audit/events?action=remote.pull');
  const imp = ev.json.find((e: any) => e.action === 'remote.pull');
  expect(imp.event.actor).toMatchObject({ id: 'alice', auth: 'token', credential: t.tokenIds.alice });
  expect(imp.event.params.imported).toMatchObject([{ dataset: 'images', number: 1, author: 'alice@laptop' }]);
  expect(imp.event.params.auditLogs[0].verifierKey).toBeTruthy();
  const plans = await t.call('carol', 'GET', '/api/v1/audit/events?action=server.store.plan');
  expect(plans.json.map((e: any) => e.actor)).toContain('alice');

  // Dedup across people: what bob pushes that the store already holds (alice's packs) is not sent again.
  const bob = await laptop(t, 'bob');
  await bob.run((s) => s.transfer.pull([], { remote: 'team' }));
  const again: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(again.packs).toMatchObject({ needed: 1, sent: 0, skipped: 1 });
  expect(again.server.imported.versions).toBe(0);

  // carol (viewer) pulls it into a fresh workspace, and may not push.
  const carol = await laptop(t, 'carol');
  const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
  expect(pulled.versions).toHaveLength(1);
  expect(pulled.bytesFetched).toBeGreaterThan(0);
  const shown = await carol.run((s) => s.datasets.show('images@v1'));
  expect(JSON.stringify(shown)).toContain('a/one.bin');
  const carolWs = await laptop(t, 'carol', { 'x.txt': 'mine' }, 'carols');
  await expect(carolWs.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({
    code: 'PERMISSION_DENIED',
  });
  return { alice };
}

describe('data plane, S3 store (presigned URLs)', () => {
  it('pushes through presigned URLs, imports verified, dedups, pulls, and refuses bad uploads', async (ctx) => {
    const s3 = needS3(ctx);
    const t = await startTeam({
      store: `s3://${s3.bucket}/team-${randomBytes(3).toString('hex')}`,
      storeEndpoint: s3.endpoint,
    });
    teams.push(t);
    expect(t.server.runtime.store!.direct).toBe(true);
    await dataPlaneStory(t);

    // A planned upload hands out a URL on the S3 endpoint itself: the bytes bypass the server.
    const good = prng(9, 10_000);
    const p = planned(good);
    const plan = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [p] });
    expect(plan.status).toBe(200);
    const up = plan.json.objects[0];
    expect(up.request.url.startsWith(s3.endpoint)).toBe(true);
    // Other bytes than planned (same length): refused at commit, discarded, nothing recorded.
    const bad = Buffer.from(good).fill(7, 0, 100);
    const put = await fetch(up.request.url, { method: 'PUT', headers: up.request.headers, body: bad });
    if (put.ok) {
      const commit = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
      expect(commit.status).toBe(422);
      expect(commit.json.error.code).toBe('UPLOAD_MISMATCH');
    } else expect(put.status).toBe(400); // real S3: Content-MD5 refused before storing
    const list = await t.call('carol', 'GET', `/api/v1/store/list?prefix=${encodeURIComponent(p.key)}`);
    expect(list.json.objects).toEqual([]);
    // The plan was used up: replaying the commit (or the URL) records nothing.
    const replay = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
    expect(replay.json.error.code).toBe('UPLOAD_UNKNOWN');
    // A good upload, then the same URL replayed: the pack stays what was planned.
    const plan2 = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [p] });
    const up2 = plan2.json.objects[0];
    expect((await fetch(up2.request.url, { method: 'PUT', headers: up2.request.headers, body: good })).ok).toBe(true);
    expect((await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [up2.uploadId] })).status).toBe(200);
    await fetch(up2.request.url, { method: 'PUT', headers: up2.request.headers, body: bad }).catch(() => null);
    const after = await t.call('carol', 'GET', `/api/v1/store/list?prefix=${encodeURIComponent(p.key)}`);
    expect(after.json.objects).toEqual([{ key: p.key, size: good.length }]);
    // A viewer may not plan uploads.
    expect((await t.call('carol', 'POST', '/api/v1/store/plan', { objects: [p] })).status).toBe(403);

    // A pack in the store is never replaced: not by a plan of its key at a made-up size, nor by
    // a second plan of a fresh key committed after the first (of another size: 409; of the same
    // size: the first stays).
    const resized = planned(Buffer.concat([good, Buffer.from('x')]), p.key.slice(9, 73));
    const over = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [resized] });
    expect(over.status).toBe(409);
    expect(over.json.error).toMatchObject({ code: 'ALREADY_EXISTS', data: { key: p.key, held: good.length } });
    const fresh = randomBytes(32).toString('hex');
    const first = prng(11, 10_000);
    const bodies = [first, prng(12, 10_000), prng(13, 9_999)];
    const rivals = bodies.map((b) => planned(b, fresh));
    const ups: any[] = [];
    for (const [i, r] of rivals.entries()) {
      ups.push((await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [r] })).json.objects[0]);
      const { url, headers } = ups[i].request;
      expect((await fetch(url, { method: 'PUT', headers, body: bodies[i] })).ok).toBe(true);
    }
    expect((await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [ups[0].uploadId] })).status).toBe(200);
    expect((await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [ups[1].uploadId] })).status).toBe(200);
    const third = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [ups[2].uploadId] });
    expect(third.status).toBe(409);
    expect(third.json.error.code).toBe('ALREADY_EXISTS');
    const dl = await t.call('carol', 'POST', '/api/v1/store/download', { keys: [rivals[0]!.key] });
    const held = Buffer.from(
      await (
        await fetch(dl.json.objects[0].request.url, { headers: dl.json.objects[0].request.headers })
      ).arrayBuffer(),
    );
    expect(held.equals(first)).toBe(true);
    for (const u of ups) {
      const left = await t.call('carol', 'GET', `/api/v1/store/list?prefix=incoming/${u.uploadId}`);
      expect(left.json.objects).toEqual([]);
    }
  }, 120_000);

  it('a push whose pack the server refuses after upload (commits run beside later uploads) fails before any state is written; a clean push then lands', async (ctx) => {
    const s3 = needS3(ctx);
    // Bytes changed on the way to the bucket by a real HTTP hop (same length; s3rver checks no
    // Content-MD5): the upload succeeds, and only the server's commit sees it.
    const proxy = await startFaultProxy(s3.endpoint);
    ctx.onTestFinished(() => proxy.close());
    let mangled = 0;
    let mangling = true;
    proxy.rule = (r) => {
      if (mangling && r.method === 'PUT' && r.path.includes('/incoming/') && r.contentLength > 0) {
        mangled++;
        return 'mangle';
      }
      return 'forward';
    };
    const t = await startTeam({
      store: `s3://${s3.bucket}/team-${randomBytes(3).toString('hex')}`,
      storeEndpoint: proxy.endpoint,
    });
    teams.push(t);
    const alice = await laptop(t, 'alice', FILES);
    try {
      await expect(alice.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({
        code: 'UPLOAD_MISMATCH',
      });
    } finally {
      mangling = false;
    }
    expect(mangled).toBeGreaterThan(0);
    const state = await t.call('carol', 'GET', `/api/v1/store/list?prefix=meta/`);
    expect(state.json.objects).toEqual([]);
    expect((await t.call('carol', 'GET', `/api/v1/store/list?prefix=packs/`)).json.objects).toEqual([]);
    expect(JSON.stringify((await t.call('carol', 'GET', '/api/v1/datasets')).json)).not.toContain('images');
    const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 } } });
    expect(JSON.stringify((await t.call('carol', 'GET', '/api/v1/datasets')).json)).toContain('images');
  }, 120_000);
});

describe('data plane, folder store (streamed through the server)', () => {
  it('pushes, imports, dedups and pulls; refuses mismatched and interrupted uploads', async () => {
    const store = mkdtempSync(join(tmpdir(), 'cairn-store-'));
    const t = await startTeam({ store: `file://${store}` });
    teams.push(t);
    expect(t.server.runtime.store!.direct).toBe(false);
    await dataPlaneStory(t);

    const good = prng(11, 50_000);
    const p = planned(good);
    const plan = async () => (await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [p] })).json.objects[0];
    let up = await plan();
    expect(up.request.url).toBe(`/api/v1/store/uploads/${up.uploadId}`);
    const bad = Buffer.from(good).fill(1, 0, 10);
    const sent = await putRaw(t, 'alice', up.request.url, bad);
    expect(sent.status).toBe(422);
    expect(sent.json.error.code).toBe('UPLOAD_MISMATCH');
    // The plan is used up by the attempt, good or bad.
    expect((await putRaw(t, 'alice', up.request.url, good)).json.error.code).toBe('UPLOAD_UNKNOWN');
    up = await plan();
    // A client that disconnects half-way: nothing stored.
    await new Promise<void>((resolve) => {
      const u = new URL(t.server.url + up.request.url);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'PUT',
          headers: {
            authorization: `Bearer ${t.tokens.alice}`,
            'content-type': 'application/octet-stream',
            'content-length': String(good.length),
          },
        },
        () => resolve(),
      );
      req.on('error', () => resolve());
      req.write(good.subarray(0, 20_000), () => {
        req.destroy();
        resolve();
      });
    });
    const list = await t.call('carol', 'GET', `/api/v1/store/list?prefix=${encodeURIComponent(p.key)}`);
    expect(list.json.objects).toEqual([]);
    // The interrupted upload never reached the handler: its plan still stands. The right bytes go in once.
    expect((await putRaw(t, 'carol', up.request.url, good)).status).toBe(403);
    expect((await putRaw(t, null, up.request.url, good)).status).toBe(401);
    expect(await putRaw(t, 'alice', up.request.url, good)).toMatchObject({ status: 200 });
    const listed = await t.call('carol', 'GET', `/api/v1/store/list?prefix=${encodeURIComponent(p.key)}`);
    expect(listed.json.objects).toEqual([{ key: p.key, size: good.length }]);
    expect((await putRaw(t, 'alice', up.request.url, good)).json.error.code).toBe('UPLOAD_UNKNOWN');
    // Only the layout's own objects may be written directly, never a pack or another key.
    const direct = await putRaw(t, 'alice', `/api/v1/store/objects/${p.key}`, good);
    expect(direct.status).toBe(403);
    expect((await putRaw(t, 'alice', '/api/v1/store/objects/incoming/x.pack', good)).status).toBe(403);
    expect((await putRaw(t, 'alice', '/api/v1/store/objects/owners/x.json', good)).status).toBe(403);
    // A workspace's audit bundle is the account's that first pushed it: bob may not overwrite alice's.
    const aliceLog = (await t.call('carol', 'GET', '/api/v1/store/list?prefix=audit/')).json.objects[0].key;
    const stolen = await putRaw(t, 'bob', `/api/v1/store/objects/${aliceLog}`, Buffer.from('{}'));
    expect(stolen.status).toBe(403);
    expect(stolen.json.error.message).toMatch(/alice's to push/);
  }, 120_000);
});
