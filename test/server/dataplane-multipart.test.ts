/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerStore, MIN_PART_BYTES } from '../../src/app/server-store.js';
import { addVersion } from '../../src/datasets/add.js';
import { useSharedS3, type S3TestServer } from '../../src/test-support/s3-server.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { s3Backend, type RemoteBackend } from '../../src/transfer/index.js';
import { signedInLaptop, startTeam, type Team } from './harness.js';

const needS3 = useSharedS3();

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
});

async function bucket(s: S3TestServer): Promise<RemoteBackend> {
  return s3Backend({
    bucket: s.bucket,
    prefix: `mp-${randomBytes(4).toString('hex')}`,
    endpoint: s.endpoint,
    forcePathStyle: true,
    region: s.region,
    credentials: s.credentials,
    attempts: 2,
    baseDelayMs: 1,
  });
}

/** A store over a fresh prefix, with a clock the test moves. */
async function store(s: S3TestServer, o: { urlSeconds?: number; backend?: RemoteBackend } = {}) {
  const backend = o.backend ?? (await bucket(s));
  const clock = { offset: 0 };
  const st = createServerStore(backend, {
    now: () => Date.now() + clock.offset,
    ...(o.urlSeconds ? { urlSeconds: o.urlSeconds } : {}),
  });
  open.push(st);
  return { st, backend, clock };
}

const PART = MIN_PART_BYTES;
// Big buffers are compared by digest: a deep equality walks every byte as a property (minutes).
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const b64md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
function split(body: Buffer, part = PART): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += part) out.push(body.subarray(at, at + part));
  return out;
}

/** A pack of `size` bytes as a client plans it in parts (optionally claiming another SHA-256). */
function planned(body: Buffer, o: { sha256?: string; md5s?: string[] } = {}) {
  const id = createHash('sha256').update(body).digest('hex');
  return {
    key: `packs/${id.slice(0, 2)}/${id}.pack`,
    size: body.length,
    sha256: o.sha256 ?? id,
    parts: { partBytes: PART, md5: o.md5s ?? split(body).map(b64md5) },
  };
}

async function send(req: { method: string; url: string; headers: Record<string, string> }, body: Buffer) {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body });
  return { status: res.status, text: await res.text() };
}

/** What is left in the store that nobody may read: unfinished multipart uploads and staged objects. */
async function leftovers(backend: RemoteBackend) {
  return { uploads: await backend.multipart!.list(''), staged: await backend.list('incoming/') };
}

const BODY = prng(21, 2 * PART + 123_457); // three parts: 5 MiB, 5 MiB, the rest

describe('multipart uploads on presigned URLs (S3 store)', () => {
  it('plans one URL per part (MD5 and length pinned), takes parallel parts, completes, verifies, and leaves nothing behind', async (ctx) => {
    const { st, backend } = await store(needS3(ctx));
    const p = planned(BODY);
    const [plan] = await st.plan('alice', [p]);
    expect(plan!.request).toBeUndefined();
    expect(plan!.parts).toHaveLength(3);
    const chunks = split(BODY);
    plan!.parts!.forEach((u, i) => {
      expect(u.url).toContain(`partNumber=${i + 1}`);
      expect(u.headers).toEqual({ 'content-md5': b64md5(chunks[i]!), 'content-length': String(chunks[i]!.length) });
    });
    // Until committed, nothing is under the pack key: the upload is staged and unfinished.
    expect((await leftovers(backend)).uploads).toHaveLength(1);
    // Out of order and in parallel, as a client's workers send them.
    const sent = await Promise.all([2, 0, 1].map((i) => send(plan!.parts![i]!, chunks[i]!)));
    expect(sent.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await st.commit('alice', [plan!.uploadId!])).toEqual([{ key: p.key, size: BODY.length }]);
    expect(sha256(await backend.get(p.key))).toBe(sha256(BODY)); // get() also checks the sha256 metadata
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });
    // Replaying a part URL after completion: the upload is gone (S3: 404 NoSuchUpload); the pack stays.
    const replay = await send(plan!.parts![0]!, Buffer.alloc(chunks[0]!.length, 1));
    expect(replay.status).toBe(404);
    expect(replay.text).toMatch(/NoSuchUpload/);
    expect(sha256(await backend.get(p.key))).toBe(sha256(BODY));
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });
    // Planned again by its uploader, it is present: nothing to send, nothing checked.
    expect(await st.plan('alice', [p])).toEqual([{ key: p.key, present: true }]);
    expect(st.integrity()).toEqual({ verified: 0, poisoned: 0 });
    // Another account relying on it gets it checked against its name first: these random bytes
    // are no pack, so they are removed and bob is told to upload (docs/SERVER.md "Poisoned packs").
    const [again] = await st.plan('bob', [p]);
    expect(again).toMatchObject({ present: false, poisoned: { key: p.key, uploader: 'alice' } });
    expect(st.integrity()).toEqual({ verified: 1, poisoned: 1 });
    expect(await backend.head(p.key)).toBeNull();
  }, 120_000);

  it('refuses wrong part bytes, a missing part, and parts that assemble into another pack; aborts each', async (ctx) => {
    const { st, backend } = await store(needS3(ctx));
    const chunks = split(BODY);
    const p = planned(BODY);

    // Part 2 with other bytes of the same length (a store that checks Content-MD5 refuses it at once).
    let [plan] = await st.plan('alice', [p]);
    const other = Buffer.from(chunks[1]!).fill(9, 0, 64);
    for (const [i, c] of [chunks[0]!, other, chunks[2]!].entries()) {
      const r = await send(plan!.parts![i]!, c);
      if (r.status !== 200) expect(r.text).toMatch(/BadDigest|InvalidDigest/);
    }
    await expect(st.commit('alice', [plan!.uploadId!])).rejects.toMatchObject({ code: 'UPLOAD_MISMATCH' });
    expect(await backend.head(p.key)).toBeNull();
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });
    // The plan was used up by that commit: the same upload id again is unknown (410).
    await expect(st.commit('alice', [plan!.uploadId!])).rejects.toMatchObject({ code: 'UPLOAD_UNKNOWN' });

    // Part 3 never sent.
    [plan] = await st.plan('alice', [p]);
    for (const i of [0, 1]) expect((await send(plan!.parts![i]!, chunks[i]!)).status).toBe(200);
    await expect(st.commit('alice', [plan!.uploadId!])).rejects.toMatchObject({
      code: 'UPLOAD_MISMATCH',
      message: expect.stringMatching(/part 3 .*never arrived/),
    });
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });

    // A forged plan: the part MD5s are honest about bytes X, the SHA-256 claims pack Y. Every part
    // matches its URL; the assembled object does not hash to the planned SHA-256, so it is discarded.
    const y = prng(22, BODY.length);
    const forged = { ...planned(y), parts: { partBytes: PART, md5: chunks.map(b64md5) } };
    [plan] = await st.plan('mallory', [forged]);
    for (const [i, c] of chunks.entries()) expect((await send(plan!.parts![i]!, c)).status).toBe(200);
    await expect(st.commit('mallory', [plan!.uploadId!])).rejects.toMatchObject({
      code: 'UPLOAD_MISMATCH',
      message: expect.stringMatching(/do not assemble into the planned pack/),
    });
    expect(await backend.head(forged.key)).toBeNull();
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });

    // Someone else's upload id is not theirs to complete.
    [plan] = await st.plan('alice', [p]);
    await expect(st.commit('mallory', [plan!.uploadId!])).rejects.toMatchObject({ code: 'UPLOAD_UNKNOWN' });
  }, 120_000);

  it('refuses part lists S3 would not take: parts under 5 MiB, a count that does not cover the pack, over 10,000 parts', async (ctx) => {
    const { st, backend } = await store(needS3(ctx));
    const p = planned(BODY);
    const bad = [
      { ...p, parts: { partBytes: PART - 1, md5: p.parts.md5 } },
      { ...p, parts: { partBytes: PART, md5: p.parts.md5.slice(1) } },
      { ...p, parts: { partBytes: PART, md5: [...p.parts.md5, p.parts.md5[0]!] } },
      { ...p, size: PART * 10_001, parts: { partBytes: PART, md5: Array(10_001).fill(p.parts.md5[0]) } },
      { ...p, parts: { partBytes: PART, md5: ['nope', ...p.parts.md5.slice(1)] } },
    ];
    for (const obj of bad) await expect(st.plan('alice', [obj])).rejects.toMatchObject({ code: 'USAGE' });
    expect((await leftovers(backend)).uploads).toEqual([]);
  }, 60_000);

  it('a client killed mid-upload: nothing recorded; its upload is aborted once the plan expires, and a restarted server aborts what an earlier process left', async (ctx) => {
    const s = needS3(ctx);
    const { st, backend, clock } = await store(s);
    const chunks = split(BODY);
    const p = planned(BODY);
    const [plan] = await st.plan('alice', [p]);
    expect((await send(plan!.parts![0]!, chunks[0]!)).status).toBe(200);
    // …and the client is gone. Before expiry the sweep leaves the live upload alone.
    expect(await st.sweep()).toEqual({ aborted: 0, expired: 0 });
    expect((await leftovers(backend)).uploads).toHaveLength(1);
    clock.offset = 16 * 60_000;
    expect(await st.sweep()).toEqual({ aborted: 1, expired: 1 });
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });
    expect(await backend.head(p.key)).toBeNull();
    await expect(st.commit('alice', [plan!.uploadId!])).rejects.toMatchObject({ code: 'UPLOAD_UNKNOWN' });
    const late = await send(plan!.parts![1]!, chunks[1]!);
    expect(late.status).toBe(404);

    // A server process planned an upload and died (its plans lived in its memory). The next
    // process over the same store aborts the orphan once it is older than a URL lives.
    const shared = await bucket(s);
    const dead = createServerStore(shared, {});
    const [orphan] = await dead.plan('alice', [p]);
    expect((await send(orphan!.parts![0]!, chunks[0]!)).status).toBe(200);
    const again = await store(s, { backend: shared });
    expect(await again.st.sweep()).toEqual({ aborted: 0, expired: 0 }); // could still be live elsewhere
    again.clock.offset = 16 * 60_000;
    expect(await again.st.sweep()).toEqual({ aborted: 1, expired: 0 });
    expect(await leftovers(shared)).toEqual({ uploads: [], staged: [] });
    await dead.close().catch(() => {}); // the backend is the shared one, closed once by `again`
  }, 120_000);

  it('an expired part URL is refused by the store, and its plan by the server', async (ctx) => {
    const { st, backend } = await store(needS3(ctx), { urlSeconds: 1 });
    const chunks = split(BODY);
    const [plan] = await st.plan('alice', [planned(BODY)]);
    await new Promise((r) => setTimeout(r, 2_100));
    const r = await send(plan!.parts![0]!, chunks[0]!);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/expired/i);
    await expect(st.commit('alice', [plan!.uploadId!])).rejects.toMatchObject({ code: 'UPLOAD_UNKNOWN' });
    await st.sweep();
    expect(await leftovers(backend)).toEqual({ uploads: [], staged: [] });
  }, 60_000);
});

describe('multipart through the team server', () => {
  const teams: Team[] = [];
  afterEach(async () => {
    for (const t of teams.splice(0)) await t.close().catch(() => {});
  });

  async function laptop(t: Team, user: string, files?: Record<string, string | Buffer>) {
    const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
    const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
    if (files) {
      const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
      writeTree(src, files);
      await addVersion(ws, { source: src, name: 'big' });
    }
    await ws.close();
    // Parts for this test's 20 MiB pack (the default sends packs up to 64 MiB in one PUT).
    const { run } = await signedInLaptop(t, user, dir, { CAIRN_MULTIPART_ABOVE: String(8 * 1024 * 1024) });
    return { run };
  }

  it('a push of a pack above the part size goes up in parts, is verified, imported and pulled back; bad parts answer 422, used plans 410, a client part list 400', async (ctx) => {
    const s = needS3(ctx);
    const t = await startTeam({
      store: `s3://${s.bucket}/team-${randomBytes(3).toString('hex')}`,
      storeEndpoint: s.endpoint,
    });
    teams.push(t);
    const big = prng(31, 20 * 1024 * 1024);
    const alice = await laptop(t, 'alice', { 'big.bin': big });
    const pushed: any = await alice.run((x) => x.transfer.push([], { remote: 'team' }));
    expect(pushed).toMatchObject({ versions: 1, server: { imported: { versions: 1 } } });
    const plans = await t.call('carol', 'GET', '/api/v1/audit/events?action=server.store.plan');
    const params = plans.json.map((e: any) => e.event?.params ?? e.params);
    expect(params.some((q: any) => q.multipart >= 1 && q.parts >= 3)).toBe(true);
    const carol = await laptop(t, 'carol');
    const pulled: any = await carol.run((x) => x.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions).toHaveLength(1);
    expect(pulled.bytesFetched).toBeGreaterThanOrEqual(big.length);

    // Over HTTP: a wrong part is 422 UPLOAD_MISMATCH at commit, the used plan 410 after.
    const body = prng(32, 2 * PART + 10);
    const p = planned(body);
    const plan = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [p] });
    expect(plan.status).toBe(200);
    const up = plan.json.objects[0];
    expect(up.parts).toHaveLength(3);
    const chunks = split(body);
    await send(up.parts[0], chunks[0]!);
    await send(up.parts[1], Buffer.alloc(chunks[1]!.length, 5));
    await send(up.parts[2], chunks[2]!);
    const c1 = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
    expect(c1.status).toBe(422);
    expect(c1.json.error.code).toBe('UPLOAD_MISMATCH');
    const c2 = await t.call('alice', 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
    expect(c2.status).toBe(410);
    // The server completes with the part list it planned; a client's own list is not accepted.
    const plan2 = await t.call('alice', 'POST', '/api/v1/store/plan', { objects: [p] });
    const forged = await t.call('alice', 'POST', '/api/v1/store/commit', {
      uploads: [plan2.json.objects[0].uploadId],
      parts: [{ partNumber: 1, etag: 'x' }],
    });
    expect(forged.status).toBe(400);
    const listed = await t.call('carol', 'GET', `/api/v1/store/list?prefix=${encodeURIComponent(p.key)}`);
    expect(listed.json.objects).toEqual([]);
  }, 180_000);
});
