/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// The server's own log as its store serves it (docs/SERVER.md "What a pull from the server
// brings"): one export in the store, shared by every account and every server process, made anew
// only when the state served changed; a pull whose requests two processes share verifies.
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/audit/export/bundle.js';
import { expiredExports, lineParts } from '../../src/server/own-log-exports.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team } from './harness.js';

describe('which exports the store keeps (pure)', () => {
  it('keeps the newest few and the young ones, drops the rest and any without a manifest', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = mulberry32(seed);
      const now = 1_000_000_000;
      const grace = 1000 + Math.floor(rnd() * 5000);
      const keep = 1 + Math.floor(rnd() * 5);
      const sizes = new Set<number>();
      while (sizes.size < Math.floor(rnd() * 12)) sizes.add(1 + Math.floor(rnd() * 10_000));
      const exports = [...sizes].map((size) => ({
        size,
        created: rnd() < 0.15 ? null : now - Math.floor(rnd() * grace * 3),
      }));
      const gone = new Set(expiredExports(exports, now, keep, grace));
      const newest = exports
        .filter((e) => e.created !== null)
        .sort((a, b) => b.size - a.size)
        .slice(0, keep)
        .map((e) => e.size);
      for (const e of exports) {
        const young = e.created !== null && now - e.created < grace;
        const expected = !(newest.includes(e.size) || young);
        expect(gone.has(e.size), `seed ${seed}, export ${e.size}`).toBe(expected);
      }
    }
  });

  it('cuts a file into parts at line ends, none over the limit unless one line is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-parts-'));
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = mulberry32(seed);
      const lines = Array.from({ length: Math.floor(rnd() * 60) }, () => 'x'.repeat(Math.floor(rnd() * 300)));
      const text = lines.map((l) => `${l}\n`).join('');
      const file = join(dir, `${seed}.jsonl`);
      writeFileSync(file, text);
      const max = 16 + Math.floor(rnd() * 400);
      const parts: Buffer[] = [];
      for await (const p of lineParts(file, max)) parts.push(Buffer.from(p));
      expect(Buffer.concat(parts).toString(), `seed ${seed}`).toBe(text);
      for (const p of parts) {
        expect(p.toString().endsWith('\n')).toBe(true);
        if (p.length > max) expect(p.toString().slice(0, -1)).not.toContain('\n');
      }
    }
  });
});

const pgUp = await postgresAvailable();
if (!pgUp) console.warn('own-log-export.test: PostgreSQL not reachable: two-process cases skipped');

/** A proxy that sends each request to the next of `targets` in turn (a load balancer without sticky sessions). */
function roundRobin(targets: string[]): Promise<{ server: Server; url: string }> {
  let n = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined && !['host', 'connection', 'content-length'].includes(k))
          headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const body = Buffer.concat(chunks);
      const r = await fetch(targets[n++ % targets.length]! + req.url, {
        method: req.method!,
        headers,
        ...(body.length ? { body } : {}),
      });
      const out = Buffer.from(await r.arrayBuffer());
      const back: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k)) back[k] = v;
      });
      res.writeHead(r.status, back).end(out);
    })().catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    }),
  );
}

describe.skipIf(!pgUp)('two server processes on one PostgreSQL database and one store', () => {
  let t: Team;
  let b: RunningServer;
  let rr: { server: Server; url: string };
  let schema = '';
  let n = 0;

  beforeAll(async () => {
    const db = freshPgUrl();
    schema = db.schema;
    t = await startTeam({ db: db.url });
    // The second process: the same data dir (key, config, store folder) and database.
    b = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, db: db.url, env: process.env });
    rr = await roundRobin([t.server.url, b.url]);
    await pushDataset('alice');
  }, 120_000);
  afterAll(async () => {
    await new Promise((r) => rr?.server.close(r));
    await b?.close();
    await t?.close();
    if (schema) await dropSchema(schema);
  });

  async function pushDataset(user: string) {
    const lap = await newLaptop(t, user, 'cairn-ole');
    writeTree(join(lap.dir, 'data'), { 'd.csv': `x\n${n++}\n` });
    await lap.run((s) => s.datasets.add({ source: join(lap.dir, 'data'), name: `ole-${n}` }));
    await lap.run((s) => s.transfer.push([], { remote: 'team' }));
  }

  /** A store object read as `who` from the process at `base`. */
  async function get(base: string, who: string, key: string): Promise<{ status: number; body: Buffer }> {
    const res = await fetch(`${base}/api/v1/store/objects/${key}`, {
      headers: { authorization: `Bearer ${t.tokens[who]}` },
    });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  }
  const ownEntry = async (base: string, who: string) => {
    const state = JSON.parse((await get(base, who, 'meta/state.json')).body.toString('utf8'));
    return state.audit.find((a: any) => a.workspace === t.server.runtime.workspaceId);
  };

  it('a pull whose requests alternate between the two processes verifies', async () => {
    const dana = await newLaptop(t, 'dana', 'cairn-ole');
    await dana.run((s) => s.transfer.addRemote('rr', rr.url, {}));
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'rr' }));
    expect(pulled.auditLogs.map((l: any) => l.workspace)).toContain(t.server.runtime.workspaceId);
    expect(((await dana.run((s) => s.audit.verify({}))) as any).problems).toEqual([]);
  }, 120_000);

  it('every account and both processes name one export until the state changes', async () => {
    const first = await ownEntry(t.server.url, 'dana');
    expect(await ownEntry(b.url, 'carol')).toEqual(first);
    expect(await ownEntry(t.server.url, 'bob')).toEqual(first);
    await pushDataset('alice');
    const next = await ownEntry(b.url, 'carol');
    expect(next.size).toBeGreaterThan(first.size);
    expect(await ownEntry(t.server.url, 'dana')).toEqual(next);
    // The exports lie in the store, where no client reads them.
    const store = join(t.dataDir, 'store', 'own-log');
    expect(readdirSync(store).filter((d) => /^\d{12}$/.test(d)).length).toBeGreaterThanOrEqual(2);
    expect((await get(t.server.url, 'admin', 'own-log/latest.json')).status).toBe(403);
  }, 120_000);

  it('a download keeps reading the export its file list came from, while a newer one is made', async () => {
    const ws = t.server.runtime.workspaceId;
    const named = await ownEntry(t.server.url, 'dana');
    const list = JSON.parse((await get(b.url, 'dana', `audit/${ws}/files.json`)).body.toString('utf8')) as string[];
    await pushDataset('alice');
    const newer = await ownEntry(b.url, 'carol');
    expect(newer.size).toBeGreaterThan(named.size);
    const dir = mkdtempSync(join(tmpdir(), 'cairn-ole-bundle-'));
    let i = 0;
    for (const f of list) {
      const got = await get(i++ % 2 ? b.url : t.server.url, 'dana', `audit/${ws}/${f}`);
      expect(got.status, f).toBe(200);
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), got.body);
    }
    const report = await verifyBundle(dir);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, size: named.size, root: named.root });
  }, 120_000);
});
