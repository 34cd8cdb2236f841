import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { authConfig } from './oidc-login.js';
import { ServerStoreBackend } from './store-backend.js';

const PACK = `packs/ab/${'ab'.repeat(32)}.pack`;

/**
 * A hostile or broken "Cairn server" on loopback: its download plan points at itself, and its
 * answers are whatever the test says. Counts the requests it got, by path.
 */
const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});
async function hostile(
  answer: (req: IncomingMessage, res: ServerResponse, base: string) => void,
): Promise<{ url: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  let base = '';
  const srv = createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    req.resume();
    req.on('end', () => answer(req, res, base));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  open.push(async () => {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  });
  return { url: base, hits };
}

/** Writes `chunk` until the client goes away. */
function endless(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 3);
  const more = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', more);
  };
  more();
}

function plan(res: ServerResponse, base: string, size: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      objects: [{ key: PACK, size, request: { method: 'GET', url: `${base}/bucket/p`, headers: {} } }],
    }),
  );
}

describe('a team server store: answers are read within bounds', () => {
  it('a pack download that sends more bytes than the plan said is cut off, not retried', async () => {
    const s = await hostile((req, res, base) => {
      if (req.url === '/api/v1/store/download') return plan(res, base, 1000);
      res.writeHead(200).end(Buffer.alloc(1000 + 65 * 1024, 1));
    });
    const b = new ServerStoreBackend({ url: s.url, token: 't', baseDelayMs: 1 });
    const err = await b.get(PACK).catch((e: unknown) => e);
    expect(isCairnError(err, 'IO_ERROR'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/sent more than \d+ bytes/);
    expect(s.hits.get('/bucket/p')).toBe(1);
  });

  it('a pack of the size planned is read whole', async () => {
    const s = await hostile((req, res, base) => {
      if (req.url === '/api/v1/store/download') return plan(res, base, 1000);
      res.writeHead(200).end(Buffer.alloc(1000, 1));
    });
    expect((await new ServerStoreBackend({ url: s.url, token: 't' }).get(PACK)).length).toBe(1000);
  });

  it('a download plan without a believable size is refused before anything is read', async () => {
    for (const size of [undefined, -1, 1e15, '1000']) {
      const s = await hostile((req, res, base) => {
        if (req.url === '/api/v1/store/download') return plan(res, base, size);
        endless(res);
      });
      const err = await new ServerStoreBackend({ url: s.url, token: 't' }).get(PACK).catch((e: unknown) => e);
      expect(isCairnError(err, 'SERVER_UNAVAILABLE'), `${String(size)}: ${String(err)}`).toBe(true);
      expect(s.hits.get('/bucket/p')).toBeUndefined();
    }
  });

  it('a small object streamed forever through the API is cut off', async () => {
    const s = await hostile((_req, res) => endless(res));
    const err = await new ServerStoreBackend({ url: s.url, token: 't' })
      .get('meta/state.json')
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'SERVER_UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/larger than 268435456 bytes/);
  }, 60_000);

  it("a put answered with an endless body is cut off at the put answer's bound, once", async () => {
    const s = await hostile((_req, res) => endless(res));
    const err = await new ServerStoreBackend({ url: s.url, token: 't', baseDelayMs: 1 })
      .put('meta/state.json', Buffer.from('{}'))
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'SERVER_UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/larger than 1048576 bytes/);
    expect(s.hits.get('/api/v1/store/objects/meta/state.json')).toBe(1);
  });
});

describe("a team server store: the caller's bound and the server's busy answers", () => {
  it("an object read with the caller's maxBytes is cut off at it, not at the backend's own bound", async () => {
    const s = await hostile((_req, res) => endless(res));
    const err = await new ServerStoreBackend({ url: s.url, token: 't' })
      .get('audit/ws/entries.jsonl', { maxBytes: 1000 })
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'IO_ERROR') && err.data?.tooLarge === true, String(err)).toBe(true);
    expect((err as Error).message).toMatch(/more than the 1000 expected/);
  });

  it('a pack the server plans larger than the caller expects is refused before a byte of it is read', async () => {
    const s = await hostile((req, res, base) => {
      if (req.url === '/api/v1/store/download') return plan(res, base, 1000);
      endless(res);
    });
    const err = await new ServerStoreBackend({ url: s.url, token: 't' })
      .get(PACK, { maxBytes: 999 })
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'IO_ERROR') && err.data?.tooLarge === true, String(err)).toBe(true);
    expect(s.hits.get('/bucket/p')).toBeUndefined();
  });

  it('a put refused 429 UPLOADS_BUSY is sent again after the Retry-After, up to its bound', async () => {
    let refusals = 2;
    const s = await hostile((_req, res) => {
      if (refusals-- > 0) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { code: 'UPLOADS_BUSY', message: 'busy', data: { retryAfterSeconds: 0 } } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"stored":true}');
    });
    await new ServerStoreBackend({ url: s.url, token: 't' }).put('audit/ws/a.txt', Buffer.from('a'));
    expect(s.hits.get('/api/v1/store/objects/audit/ws/a.txt')).toBe(3);
    // Past the bound, the refusal is the answer.
    refusals = 5;
    const err = await new ServerStoreBackend({ url: s.url, token: 't', busyAttempts: 2 })
      .put('audit/ws/b.txt', Buffer.from('b'))
      .catch((e: unknown) => e);
    expect(isCairnError(err, 'UPLOADS_BUSY'), String(err)).toBe(true);
    expect(s.hits.get('/api/v1/store/objects/audit/ws/b.txt')).toBe(2);
  });
});

describe('sign-in answers are read within bounds', () => {
  it("a server whose sign-in config never ends is cut off, with the server's error code", async () => {
    const s = await hostile((_req, res) => endless(res));
    const err = await authConfig(s.url).catch((e: unknown) => e);
    expect(isCairnError(err, 'SERVER_UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/larger than 1048576 bytes/);
  });
});
