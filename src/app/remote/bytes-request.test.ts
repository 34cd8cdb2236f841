import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AnswerTooLarge, sendBytes } from './bytes-request.js';

/** A real HTTP server on loopback for one test; `handle` answers every request. */
async function serving(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  test: (url: string, srv: Server) => Promise<void>,
): Promise<void> {
  const srv = createHttp(handle);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await test(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`, srv);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
}

describe('sendBytes', () => {
  it('hands the whole buffer over and returns the answer', async () => {
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(201).end(`${req.headers['content-length']}:${Buffer.concat(chunks).length}`));
    };
    await serving(handle, async (url) => {
      const body = Buffer.alloc(3 * 1024 * 1024, 7);
      const a = await sendBytes(url, { method: 'PUT', body, maxBytes: 100 });
      expect([a.status, a.ok, a.body.toString()]).toEqual([201, true, `${body.length}:${body.length}`]);
    });
  });

  it('gives up on a peer that accepts the connection and never answers', async () => {
    const held: Socket[] = [];
    const srv = createServer((s) => held.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`;
      await expect(
        sendBytes(url, { method: 'PUT', body: Buffer.from('x'), idleMs: 200, maxBytes: 100 }),
      ).rejects.toThrow(/no data/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  it('cuts off a peer that streams an endless answer, having kept no more than the bound', async () => {
    let sent = 0;
    const handle = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 1);
      const more = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    };
    await serving(handle, async (url) => {
      const err = await sendBytes(url, { method: 'GET', maxBytes: 1024 * 1024 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AnswerTooLarge);
      expect((err as Error).message).toMatch(/larger than 1048576 bytes/);
      // The server stops being read: what it managed to send is bounded by the socket buffers.
      const at = sent;
      await new Promise((r) => setTimeout(r, 200));
      expect(sent - at).toBeLessThan(8 * 1024 * 1024);
    });
  });

  it('refuses an answer that declares more than the bound before reading it', async () => {
    const handle = (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 ** 3) });
      res.write('x');
    };
    await serving(handle, async (url) => {
      await expect(sendBytes(url, { method: 'GET', maxBytes: 4096 })).rejects.toBeInstanceOf(AnswerTooLarge);
    });
  });

  it('takes an answer of exactly the bound and refuses one byte more', async () => {
    for (const [size, ok] of [
      [1000, true],
      [1001, false],
    ] as const) {
      // Chunked (no Content-Length): only counting what arrives can tell.
      const handle = (_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200);
        res.write(Buffer.alloc(size - 1, 2));
        res.end(Buffer.alloc(1, 2));
      };
      await serving(handle, async (url) => {
        const got = sendBytes(url, { method: 'GET', maxBytes: 1000 });
        if (ok) expect((await got).body.length).toBe(size);
        else await expect(got).rejects.toBeInstanceOf(AnswerTooLarge);
      });
    }
  });
});
