import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from './harness.js';

/**
 * A slow-loris body: a request that declares a body and then sends it a byte now and then (or
 * never). Fastify's requestTimeout is 0, so before the per-body bounds it held its socket, and on
 * the store's byte routes its share of the upload memory, for ever.
 */
const MiB = 1024 * 1024;
let t: Team;
beforeAll(async () => {
  t = await startTeam({
    uploadMemory: 4 * MiB,
    bodyTimeouts: { idleMs: 400, totalMs: 1500, minBytesPerSecond: 4 * MiB },
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

interface Outcome {
  status: number;
  code: string | null;
  /** Whether the server closed the connection. */
  closed: boolean;
}

/**
 * Sends `head` bytes of a body declared `declared` long, then one byte every `dripMs` (never, when
 * 0); resolves with the answer once the server closes the connection, or after `giveUpMs`.
 */
function slowBody(
  method: string,
  path: string,
  type: string,
  declared: number,
  head: number,
  dripMs: number,
  giveUpMs = 15_000,
): Promise<Outcome> {
  const url = new URL(t.server.url + path);
  return new Promise<Outcome>((resolve) => {
    const out: Outcome = { status: 0, code: null, closed: false };
    let drip: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve(out);
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        headers: {
          authorization: `Bearer ${t.tokens.alice}`,
          'content-type': type,
          'content-length': String(declared),
        },
      },
      (res) => {
        out.status = res.statusCode ?? 0;
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          try {
            out.code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
          } catch {
            /* not JSON */
          }
        });
      },
    );
    req.on('error', () => {});
    req.on('socket', (s) => s.on('close', () => ((out.closed = true), setTimeout(finish, 20))));
    const giveUp = setTimeout(() => {
      req.destroy();
      finish();
    }, giveUpMs);
    req.write(Buffer.alloc(head, 0x20));
    if (dripMs > 0) drip = setInterval(() => req.write(' '), dripMs);
  });
}

describe('a request body that stalls or trickles is cut off', () => {
  it('a JSON body that stops arriving gets 408 REQUEST_TIMEOUT and its connection is closed', async () => {
    const r = await slowBody('POST', '/api/v1/store/download', 'application/json', 200, 10, 0);
    expect(r).toEqual({ status: 408, code: 'REQUEST_TIMEOUT', closed: true });
  }, 30_000);

  it('a JSON body sent a byte at a time, each within the idle bound, is cut off at the total', async () => {
    const r = await slowBody('POST', '/api/v1/store/download', 'application/json', 10_000, 10, 100);
    expect(r).toEqual({ status: 408, code: 'REQUEST_TIMEOUT', closed: true });
  }, 30_000);

  it('a stalled upload to the byte routes frees its share of the upload memory', async () => {
    // It takes the whole 4 MiB budget, then stalls: every other upload waits behind it.
    const stalled = slowBody(
      'PUT',
      '/api/v1/store/objects/audit/ws-slow/a.bin',
      'application/octet-stream',
      4 * MiB,
      MiB,
      0,
    );
    await new Promise((r) => setTimeout(r, 100));
    const next = await fetch(`${t.server.url}/api/v1/store/objects/audit/ws-slow/b.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.tokens.alice}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4 * MiB, 1),
      signal: AbortSignal.timeout(15_000),
    }).then(
      (res) => res.status,
      () => -1,
    );
    expect(await stalled).toEqual({ status: 408, code: 'REQUEST_TIMEOUT', closed: true });
    // The upload behind it got the freed share and was stored.
    expect(next).toBe(200);
  }, 40_000);
});
