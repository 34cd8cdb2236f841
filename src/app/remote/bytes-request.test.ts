import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createHttp } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sendBytes } from './bytes-request.js';

describe('sendBytes', () => {
  it('hands the whole buffer over and returns the answer', async () => {
    const srv = createHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(201).end(`${req.headers['content-length']}:${Buffer.concat(chunks).length}`));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const body = Buffer.alloc(3 * 1024 * 1024, 7);
      const a = await sendBytes(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`, { method: 'PUT', body });
      expect([a.status, a.ok, a.body.toString()]).toEqual([201, true, `${body.length}:${body.length}`]);
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('gives up on a peer that accepts the connection and never answers', async () => {
    const held: Socket[] = [];
    const srv = createServer((s) => held.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`;
      await expect(sendBytes(url, { method: 'PUT', body: Buffer.from('x'), idleMs: 200 })).rejects.toThrow(/no data/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });
});
