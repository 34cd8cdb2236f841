import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors.js';
import { ServerStoreBackend } from '../../src/app/remote/store-backend.js';
import { declaredPut, startTeam, type Team } from './harness.js';

/**
 * What the server holds while it answers (docs/SERVER.md "Answer memory"): readers of a large
 * object that read slowly cost it a few slices each, not the object; and a client reading
 * through it keeps to the size it expects. Measured in this process (the server runs in it).
 */
const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const READERS = 6;
const PACK = `packs/5e/${'5e'.repeat(32)}.pack`;
let t: Team;
let storeDir: string;
let bytes: Buffer;
beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), 'cairn-answer-memory-'));
  bytes = randomBytes(SIZE);
  mkdirSync(join(storeDir, 'packs', '5e'), { recursive: true });
  writeFileSync(join(storeDir, ...PACK.split('/')), bytes);
  mkdirSync(join(storeDir, 'audit', 'ws-memory'), { recursive: true });
  writeFileSync(join(storeDir, 'audit', 'ws-memory', 'notes.txt'), 'x'.repeat(100));
  t = await startTeam({ store: `file://${storeDir}` });
}, 120_000);
afterAll(async () => {
  await t?.close();
  rmSync(storeDir, { recursive: true, force: true });
});

/** A GET of `key` whose answer is left unread once its first bytes came, until `resume()`; then hashed whole. */
function slowReader(key: string) {
  const url = new URL(`${t.server.url}/api/v1/store/objects/${key}`);
  let res!: IncomingMessage;
  let started!: () => void;
  const began = new Promise<void>((r) => (started = r));
  const done = new Promise<{ status: number; length: string | undefined; sha256: string; bytes: number }>(
    (resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          headers: { authorization: `Bearer ${t.tokens.admin}` },
        },
        (r) => {
          res = r;
          const h = createHash('sha256');
          let n = 0;
          r.once('data', () => (r.pause(), started()));
          r.on('data', (c: Buffer) => (h.update(c), (n += c.length)));
          r.on('end', () =>
            resolve({
              status: r.statusCode ?? 0,
              length: r.headers['content-length'],
              sha256: h.digest('hex'),
              bytes: n,
            }),
          );
          r.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
  return { began, done, resume: () => res.resume() };
}

/** The bytes this process holds in Buffers (the server's answers among them). */
const held = () => process.memoryUsage().arrayBuffers;

describe('many slow readers of a large object through the server', () => {
  it('cost the server a bounded amount of memory each, and each gets the object byte for byte', async () => {
    const before = held();
    const readers = Array.from({ length: READERS }, () => slowReader(PACK));
    await Promise.all(readers.map((r) => r.began));
    // Every answer has started and none is read: what the server holds now is what slow readers cost.
    let peak = held();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 40));
      peak = Math.max(peak, held());
    }
    for (const r of readers) r.resume();
    const answers = await Promise.all(readers.map((r) => r.done));
    const want = createHash('sha256').update(bytes).digest('hex');
    for (const a of answers) expect(a).toEqual({ status: 200, length: String(SIZE), sha256: want, bytes: SIZE });
    // Reading each whole would hold READERS × 32 MiB (192 MiB); streamed, about two 1 MiB slices each.
    expect(peak - before).toBeLessThan(64 * MiB);
  }, 60_000);
});

describe('an object that shrinks while the server streams it', () => {
  it('is answered cut off short of its Content-Length, never as a shorter object that ends cleanly', async () => {
    const key = `packs/7a/${'7a'.repeat(32)}.pack`;
    const path = join(storeDir, ...key.split('/'));
    mkdirSync(join(storeDir, 'packs', '7a'), { recursive: true });
    writeFileSync(path, bytes);
    const r = slowReader(key);
    await r.began;
    // Far past what the server read ahead of a paused reader (a slice or two, and the socket buffers).
    truncateSync(path, SIZE - 8 * MiB);
    r.resume();
    const answer = await r.done.catch((e: unknown) => e);
    expect(answer).toBeInstanceOf(Error);
  }, 60_000);
});

describe('a client reading through the server', () => {
  it("keeps to the caller's maxBytes: a pack or object larger than expected fails before it is kept", async () => {
    const b = new ServerStoreBackend({ url: t.server.url, token: t.tokens.admin! });
    try {
      const whole = await b.get(PACK, { maxBytes: SIZE });
      expect(whole.equals(bytes)).toBe(true);
      const pack = await b.get(PACK, { maxBytes: SIZE - 1 }).catch((e: unknown) => e);
      expect(isCairnError(pack, 'IO_ERROR') && pack.data?.tooLarge, String(pack)).toBe(true);
      expect((await b.get('audit/ws-memory/notes.txt', { maxBytes: 100 })).toString()).toBe('x'.repeat(100));
      const small = await b.get('audit/ws-memory/notes.txt', { maxBytes: 99 }).catch((e: unknown) => e);
      expect(isCairnError(small, 'IO_ERROR') && small.data?.tooLarge, String(small)).toBe(true);
    } finally {
      await b.close();
    }
  }, 60_000);
});

/** A PUT as `who` that declares `declared` bytes and sends none: it holds (or waits for) upload memory. */
function heldPut(who: string, key: string, declared: number): ClientRequest {
  const req = declaredPut(t, who, `/api/v1/store/objects/${key}`, declared);
  req.on('error', () => {});
  req.flushHeaders();
  return req;
}

async function busyRefusals(): Promise<number> {
  const r = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied&actor=alice&limit=1000');
  return (r.json as Array<{ event: { params: { status?: number } } }>).filter((e) => e.event.params.status === 429)
    .length;
}

describe('a client whose upload the server refuses 429 UPLOADS_BUSY', () => {
  it('sends it again after the Retry-After, and it lands once the memory frees', async () => {
    // Alice's first body takes her whole share of the upload memory, 16 more wait, and one more
    // is refused: once it is, her waiting bodies are at their bound, so her next is refused too.
    const held = [heldPut('alice', 'audit/ws-memory/hold.bin', 256 * MiB)];
    for (let i = 0; i < 17; i++) held.push(heldPut('alice', `audit/ws-memory/wait-${i}.bin`, MiB));
    const refused = async (n: number) => {
      while ((await busyRefusals()) < n) await new Promise((r) => setTimeout(r, 50));
    };
    await refused(1);
    const b = new ServerStoreBackend({ url: t.server.url, token: t.tokens.alice! });
    try {
      const put = b.put('audit/ws-memory/retried.txt', Buffer.from('landed'));
      await refused(2);
      for (const r of held) r.destroy();
      await put;
      const back = await b.get('audit/ws-memory/retried.txt');
      expect(back.toString()).toBe('landed');
      expect(await busyRefusals()).toBe(2);
    } finally {
      for (const r of held) r.destroy();
      await b.close();
    }
  }, 60_000);
});
