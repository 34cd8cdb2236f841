import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * The store's byte routes read a whole body into memory before the handler looks at it (a
 * folder store's pack up to 1 GiB, an object up to 256 MiB), and only then learn that the upload
 * id is nobody's. Any contributor could send a few such bodies at once, slowly, and hold their
 * bytes in the server's memory until it was killed for it. The bodies the server holds at once
 * are now bounded (`uploadMemory`): a body waits, unread in the socket, until the bytes ahead of
 * it are answered.
 */
const MiB = 1024 * 1024;
let t: Team;
beforeAll(async () => {
  t = await startTeam({ uploadMemory: 32 * MiB });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** A PUT that declares `declared` bytes and sends all but the last MiB, then waits. */
function stalledUpload(path: string, declared: number): { abort: () => void; answered: Promise<number> } {
  const url = new URL(t.server.url + path);
  const chunk = Buffer.alloc(MiB, 7);
  let abort = () => {};
  const answered = new Promise<number>((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'PUT',
        headers: {
          authorization: `Bearer ${t.tokens.alice}`,
          'content-type': 'application/octet-stream',
          'content-length': String(declared),
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(-1));
    abort = () => req.destroy();
    let sent = 0;
    const pump = () => {
      while (sent < declared - MiB) {
        sent += MiB;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
    };
    pump();
  });
  return { abort: () => abort(), answered };
}

describe('bodies held in memory at once', () => {
  it('six stalled 24 MiB uploads to an unknown id do not all sit in the server memory', async () => {
    const base = process.memoryUsage().arrayBuffers;
    const uploads = Array.from({ length: 6 }, (_, i) => stalledUpload(`/api/v1/store/uploads/up-bogus-${i}`, 24 * MiB));
    let peak = 0;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    for (const u of uploads) u.abort();
    await Promise.all(uploads.map((u) => u.answered));
    // 6 × 23 MiB sat in memory before; now at most the 32 MiB budget (and socket buffers).
    expect(peak / MiB, 'MiB of request bodies held at once').toBeLessThan(64);
  }, 60_000);

  it('once the stalled ones are gone, a body as large as the whole budget is read again (nothing leaked)', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${t.server.url}/api/v1/store/objects/audit/ws-mem/probe-${i}.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.tokens.alice}`, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(31 * MiB, 1),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await r.text();
      // Read and answered, not left waiting for memory: the store took it (a workspace's bundle file).
      expect([r.status, text]).toEqual([200, JSON.stringify({ stored: true, bytes: 31 * MiB })]);
    }
  }, 90_000);
});
