import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredPut, startTeam, type Team } from '../server/harness.js';

/**
 * The byte routes' memory bound (`uploadMemory`) is taken by a body's declared size before a
 * byte of it is read. A contributor who declares a body as large as the whole bound and then
 * sends nothing held all of it for as long as the connection stayed open (the server sets no
 * request timeout): every other account's push waited behind it, for ever, at no cost to the
 * sender (not a byte of memory used). A body that has its share and stops arriving now loses it
 * (`bodyTimeouts.idleMs`, 408), and the waiting bodies are served one account at a time.
 */
const MiB = 1024 * 1024;
let t: Team;
beforeAll(async () => {
  t = await startTeam({
    uploadMemory: 8 * MiB,
    bodyTimeouts: { idleMs: 400 },
    roles: { alice: 'contributor', mallory: 'contributor', admin: 'admin' },
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** A PUT by `who` that declares `declared` bytes and sends none of them. */
function silentUpload(who: string, path: string, declared: number): { abort: () => void; answered: Promise<number> } {
  let abort = () => {};
  const answered = new Promise<number>((resolve) => {
    const req = declaredPut(t, who, path, declared, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(-1));
    req.flushHeaders();
    abort = () => req.destroy();
  });
  return { abort: () => abort(), answered };
}

async function alicePut(name: string): Promise<number | string> {
  try {
    const r = await fetch(`${t.server.url}/api/v1/store/objects/audit/ws-alice/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.tokens.alice}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(64 * 1024, 1),
      signal: AbortSignal.timeout(15_000),
    });
    await r.text();
    return r.status;
  } catch (err) {
    return (err as Error).name;
  }
}

describe('one account cannot hold the upload memory for ever', () => {
  it('a body declared as large as the bound that never arrives does not block another account', async () => {
    const stall = silentUpload('mallory', '/api/v1/store/uploads/up-never', 16 * MiB);
    await new Promise((r) => setTimeout(r, 100));
    // Before: alice's 64 KiB waited behind mallory's silent 16 MiB until the client gave up.
    expect(await alicePut('a.bin')).toBe(200);
    // Mallory's silent body was refused (and recorded as her request), not left open.
    expect(await stall.answered).toBe(408);
    stall.abort();
    const events = await t.call('admin', 'GET', '/api/v1/audit/events?actor=mallory&limit=100');
    expect(events.status).toBe(200);
    const hers = (events.json as Array<{ event: { action: string; params?: { status?: number } } }>).map((e) => [
      e.event.action,
      e.event.params?.status,
    ]);
    expect(hers).toContainEqual(['server.denied', 408]);
  }, 30_000);

  it("many silent bodies from one account do not keep another account's body waiting", async () => {
    const stalls = Array.from({ length: 6 }, (_, i) =>
      silentUpload('mallory', `/api/v1/store/uploads/up-${i}`, 4 * MiB),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(await alicePut('b.bin')).toBe(200);
    for (const s of stalls) s.abort();
    await Promise.all(stalls.map((s) => s.answered));
  }, 30_000);

  it('a body its sender abandons half-way is still an event with its identity', async () => {
    const before = await t.call('admin', 'GET', '/api/v1/audit/events?actor=mallory&limit=1000');
    await new Promise<void>((resolve) => {
      const req = declaredPut(t, 'mallory', '/api/v1/store/uploads/up-half', MiB);
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000, 1), () => setTimeout(() => (req.destroy(), resolve()), 200));
    });
    let after = before;
    for (let i = 0; i < 50 && after.json.length === before.json.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await t.call('admin', 'GET', '/api/v1/audit/events?actor=mallory&limit=1000');
    }
    expect(after.json.length, 'events of the abandoned upload').toBeGreaterThan(before.json.length);
  }, 30_000);
});
