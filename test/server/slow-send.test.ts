import type { ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declaredPut, startTeam, type Team } from './harness.js';

/**
 * The holes a slow peer left open after the per-body idle and total bounds (issue 11): a body
 * trickling just inside the idle bound, one account taking the whole upload memory, a client
 * that stops reading its answer, and the public routes that left no trace. Small configured
 * limits stand in for the defaults; nothing here asserts on elapsed time.
 */
const MiB = 1024 * 1024;
const METRICS_TOKEN = 'metrics-token-for-the-slow-send-test';
let t: Team;
const open: ClientRequest[] = [];
beforeAll(async () => {
  t = await startTeam({
    uploadMemory: 8 * MiB,
    bodyTimeouts: { idleMs: 3000, totalMs: 120_000, minBytesPerSecond: 4 * MiB, minRate: 2000, rateWindowMs: 400 },
    http: { uploadAccountShare: 0.5, writeStallMs: 300, metricsToken: METRICS_TOKEN },
  });
}, 120_000);
afterAll(async () => {
  for (const r of open) r.destroy();
  await t?.close();
});

interface Answer {
  status: number;
  code: string | null;
  message: string;
  retryAfter: string | null;
  closed: boolean;
}

/**
 * A PUT to the store's objects declared `declared` bytes long as `who`, sending `chunk` bytes
 * every `everyMs`; resolves with the answer once the connection closes (or `settleMs` after an
 * answer on a connection left open), or with status 0 after `giveUpMs`.
 */
function drip(who: string, key: string, declared: number, chunk: number, everyMs: number, giveUpMs = 10_000) {
  const url = new URL(`${t.server.url}/api/v1/store/objects/audit/ws-slowsend/${key}`);
  let req!: ClientRequest;
  const answer = new Promise<Answer>((resolve) => {
    const out: Answer = { status: 0, code: null, message: '', retryAfter: null, closed: false };
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(out);
    };
    req = declaredPut(t, who, url.pathname, declared, (res) => {
      out.status = res.statusCode ?? 0;
      out.retryAfter = (res.headers['retry-after'] as string | undefined) ?? null;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          out.code = e?.code ?? null;
          out.message = e?.message ?? '';
        } catch {
          /* not JSON */
        }
        setTimeout(finish, 50);
      });
    });
    open.push(req);
    req.on('error', () => {});
    req.on('socket', (s) => s.on('close', () => ((out.closed = true), setTimeout(finish, 20))));
    const giveUp = setTimeout(finish, giveUpMs);
    if (everyMs > 0) timer = setInterval(() => req.write(Buffer.alloc(chunk, 0x20)), everyMs);
    req.flushHeaders();
  });
  return { answer, req };
}

async function events(filter: Record<string, string>) {
  const r = await t.call('admin', 'GET', `/api/v1/audit/events?${new URLSearchParams({ ...filter, limit: '1000' })}`);
  expect(r.status).toBe(200);
  return (r.json as Array<{ event: any }>).map((e) => e.event); // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('the routes without a Cairn credential are audit events', () => {
  it('/metrics answers only its token, and every scrape, refused or served, is logged with its peer', async () => {
    expect((await fetch(`${t.server.url}/metrics`)).status).toBe(401);
    const bad = await fetch(`${t.server.url}/metrics`, { headers: { authorization: `Bearer ${t.tokens.admin}` } });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${t.server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('cairn_http_denied_total{reason="unauthenticated"} 2');
    expect((await fetch(`${t.server.url}/api/v1/auth/config`)).status).toBe(200);
    const logged = (await events({ actor: 'anonymous' })).filter((e) =>
      ['metrics', 'auth.config'].includes(e.target.name),
    );
    // The peer by its keyed pseudonym: the operator can test an address, the log never holds one.
    const peer = t.server.runtime.peerPseudonym('127.0.0.1');
    expect(peer).toMatch(/^peer:[0-9a-f]{24}$/);
    expect(logged.map((e) => [e.action, e.target.name, e.outcome, e.params.status, e.params.peer])).toEqual([
      ['server.denied', 'metrics', 'denied', 401, peer],
      ['server.denied', 'metrics', 'denied', 401, peer],
      ['server.read', 'metrics', 'ok', 200, peer],
      ['server.read', 'auth.config', 'ok', 200, peer],
    ]);
    expect(JSON.stringify(logged)).not.toContain('127.0.0.1');
    // The refused credential is named nowhere in the log.
    expect(JSON.stringify(logged)).not.toContain(t.tokens.admin!);
  }, 30_000);
});

describe('a client that stops reading its answer', () => {
  it('has its connection closed once the answer makes no progress', async () => {
    const put = await fetch(`${t.server.url}/api/v1/store/objects/audit/ws-slowsend/big.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.tokens.alice}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(32 * MiB, 7),
    });
    expect(put.status).toBe(200);
    const url = new URL(t.server.url);
    // Watched from the server's side: a client that does not read does not see its socket end either.
    const serverSide = new Promise<Socket>((r) => t.server.http.server.once('connection', r));
    const closed = new Promise<boolean>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => {
        s.write(
          `GET /api/v1/store/objects/audit/ws-slowsend/big.bin HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `Authorization: Bearer ${t.tokens.alice}\r\n\r\n`,
        );
        // Reads nothing: the answer fills the socket buffers and stops.
        s.pause();
      });
      s.on('error', () => {});
      void serverSide.then((theirs) => {
        const giveUp = setTimeout(() => (s.destroy(), resolve(false)), 10_000);
        theirs.once('close', () => (clearTimeout(giveUp), s.destroy(), resolve(true)));
      });
    });
    expect(await closed).toBe(true);
    const scrape = await fetch(`${t.server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(await scrape.text()).toContain('cairn_http_write_stalls_total 1');
  }, 30_000);
});

describe('a body that trickles just inside the idle bound', () => {
  it('is cut off by the rate floor: 408 REQUEST_TIMEOUT, connection closed', async () => {
    // 16 bytes every 100 ms: never idle for the 3 s bound, but 160 bytes/s under a 2000 bytes/s floor.
    const { answer } = drip('alice', 'trickle.bin', 4 * MiB, 16, 100);
    const r = await answer;
    expect(r).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT', closed: true });
    expect(r.message).toMatch(/slower than 2000 bytes\/s/);
  }, 30_000);
});

describe("one account's uploads hold at most its share of the upload memory", () => {
  it("another account's upload is not kept waiting behind them; too many waiting are refused 429 UPLOADS_BUSY", async () => {
    // Alice's first upload holds her share (4 MiB of 8), sent steadily above the floor.
    const first = drip('alice', 'held-1.bin', 4 * MiB, 4096, 50, 60_000);
    // Her second would take the rest: it waits, over her share, unread.
    const second = drip('alice', 'held-2.bin', 4 * MiB, 4096, 50, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    const bob = await fetch(`${t.server.url}/api/v1/store/objects/audit/ws-slowsend-bob/bob.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.tokens.bob}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4 * MiB, 2),
      signal: AbortSignal.timeout(15_000),
    }).then(
      (res) => res.status,
      () => -1,
    );
    expect(bob).toBe(200);
    // Alice's waiting uploads are bounded: one past the bound is refused at once, with Retry-After.
    let refused: Answer | null = null;
    for (let i = 0; i < 40 && refused === null; i++) {
      const next = drip('alice', `wait-${i}.bin`, 4 * MiB, 0, 0, 60_000);
      const r = await Promise.race([next.answer, new Promise<null>((res) => setTimeout(() => res(null), 150))]);
      if (r !== null) refused = r;
    }
    expect(refused).toMatchObject({ status: 429, code: 'UPLOADS_BUSY', retryAfter: '5' });
    // Refused, and recorded as the sender's like any refusal.
    const busy = (await events({ action: 'server.denied', actor: 'alice' })).filter((e) => e.params.status === 429);
    expect(busy.map((e) => [e.target.name, e.reason])).toEqual([['store.put', expect.stringMatching(/^UPLOADS_BUSY/)]]);
    for (const r of open) r.destroy();
    await Promise.all([first.answer, second.answer]);
  }, 60_000);
});
