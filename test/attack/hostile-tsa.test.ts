import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { requestTimestamp } from '../../src/audit/timestamp/index.js';

/**
 * A timestamp authority is a party on the network the log asks after every checkpoint: a hostile
 * or broken one must not be able to fill the memory of the process that asks (a token is a few
 * KiB), nor leave it with an untyped error.
 */
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('CAIRN_REQUIRE_SERVICES=1 but the openssl command is missing');
if (!hasOpenssl) console.warn('SKIPPED: hostile TSA tests need the openssl command (it builds the request)');

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const MiB = 1024 * 1024;

describe.skipIf(!hasOpenssl)('a hostile timestamp authority', () => {
  it('answering 200 MiB: the client stops reading past the token limit', async () => {
    const total = 200 * MiB;
    let sent = 0;
    const done = new Promise<number>((resolve) => {
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': String(total) });
        const chunk = Buffer.alloc(MiB, 0x30);
        const pump = () => {
          while (sent < total) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        // What the client accepted: every byte handed to the socket, counted when it closes.
        const sock = res.socket!;
        sock.on('close', () => resolve(sock.bytesWritten));
        pump();
      });
      void listen(server).then((url) => {
        urlReady(url);
      });
    });
    let urlReady!: (u: string) => void;
    const url = await new Promise<string>((ok) => (urlReady = ok));
    const err = await requestTimestamp('checkpoint\n', { url, ca: null }, 60_000).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    // The token limit is 256 KiB; socket and stream buffers add a few MiB at most.
    expect(await done).toBeLessThan(32 * MiB);
    expect(err?.code).toBe('CHECK_FAILED');
    expect(err?.message).toMatch(/larger than/);
  }, 120_000);

  it('that sends its headers and then stalls: a typed "did not answer", not a raw abort', async () => {
    const url = await listen(
      createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/timestamp-reply' });
        res.write(Buffer.from([0x30, 0x82]));
      }),
    );
    const err = await requestTimestamp('checkpoint\n', { url, ca: null }, 1_000).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('SERVER_UNAVAILABLE');
    expect(err?.message).toContain(url);
  }, 60_000);
});
