/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, announcedUrl } from './harness.js';

/**
 * kill -9 of the real server process (`cairn server start`, the built CLI) while clients write
 * concurrently, then a restart: every write a client retried with its idempotency key takes
 * effect exactly once, and the audit log verifies from a client.
 */
const pg = await postgresAvailable();
const children: ChildProcess[] = [];
const schemas: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of schemas.splice(0)) await dropSchema(s);
});

async function spawnServer(dataDir: string, listen: string): Promise<{ child: ChildProcess; url: string }> {
  const child = cliSpawn(['server', 'start', '--listen', listen, '--data-dir', dataDir], { cwd: dataDir });
  children.push(child);
  const url = await announcedUrl(child);
  return { child, url };
}

async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

interface Op {
  who: string;
  method: string;
  path: string;
  body: unknown;
  key: string;
}

/** What a client does: send with the same key until an answer that is not "try again" arrives. */
async function untilAnswered(base: () => string, token: string, op: Op): Promise<{ status: number; json: any }> {
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      const res = await fetch(base() + op.path, {
        method: op.method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': op.key },
        body: JSON.stringify(op.body),
      });
      const json: any = await res.json().catch(() => null);
      const busy = res.status === 409 && /still running/.test(json?.error?.message ?? '');
      if (![502, 503, 504].includes(res.status) && !busy) return { status: res.status, json };
    } catch {
      // refused or reset: the server is down or restarting
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no answer for ${op.method} ${op.path} (${op.key})`);
}

describe.each([
  ['sqlite', false],
  ['postgres', true],
])('kill -9 of the server under concurrent writes (%s)', (_name, usePg) => {
  it('loses and duplicates nothing; retried writes converge; the log verifies', { timeout: 240_000 }, async () => {
    if (usePg && !pg) return; // postgresAvailable() said so loudly (or failed under CAIRN_REQUIRE_SERVICES=1)
    const db = usePg ? freshPgUrl() : null;
    if (db) schemas.push(db.schema);
    // Accounts, tokens and model versions made in-process (registration needs files on the server).
    const t = await startTeam(db ? { db: db.url } : {});
    const versions: string[] = [];
    for (let i = 0; i < 8; i++) versions.push(await t.registerAs('alice', 'fault'));
    const src = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    writeFileSync(join(src, 'a.csv'), 'x,y\n1,2\n');
    const host = { actor: { id: 'alice', auth: 'token' as const }, command: 'test setup' };
    const data = await t.server.runtime.runAs(host, () =>
      t.server.runtime.services.datasets.add({ source: src, name: 'faultdata' }),
    );
    const port = new URL(t.server.url).port;
    await t.close();

    const ops: Op[] = [];
    const run = Math.random().toString(36).slice(2);
    for (const [i, ref] of versions.entries()) {
      ops.push({
        who: 'bob',
        method: 'POST',
        path: '/api/v1/model-versions/approvals',
        body: { ref, alias: 'staging' },
        key: `a${i}-${run}`,
      });
      ops.push({
        who: 'alice',
        method: 'POST',
        path: '/api/v1/model-versions/promotions',
        body: { ref, alias: `lane${i}` },
        key: `p${i}-${run}`,
      });
    }
    for (let i = 0; i < 16; i++) {
      ops.push({
        who: 'alice',
        method: 'POST',
        path: '/api/v1/versions/tags',
        body: { ref: data.ref, tag: `t${i}` },
        key: `g${i}-${run}`,
      });
      ops.push({
        who: 'admin',
        method: 'POST',
        path: '/api/v1/tokens',
        body: { user: 'carol', label: `fault-${i}` },
        key: `k${i}-${run}`,
      });
    }
    let server = await spawnServer(t.dataDir, `127.0.0.1:${port}`);
    const base = () => server.url;
    let answered = 0;
    const queue = [...ops];
    const answers = new Map<string, { status: number; json: any }>();
    const worker = async () => {
      for (let op = queue.shift(); op; op = queue.shift()) {
        answers.set(op.key, await untilAnswered(base, t.tokens[op.who]!, op));
        answered++;
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    // Reads beside the writes, each with its own marker (the limit it asks for): a read answered
    // before a kill -9 was logged before its answer left, so its event is there after the restart.
    const readsAnswered = new Set<number>();
    const readsSent = new Set<number>();
    let writing = true;
    const reader = async () => {
      for (let i = readsSent.size; writing; i = readsSent.size) {
        readsSent.add(1000 + i);
        try {
          const res = await fetch(`${base()}/api/v1/runs?limit=${1000 + i}`, {
            headers: { authorization: `Bearer ${t.tokens.admin}` },
          });
          if (res.status === 200) readsAnswered.add(1000 + i);
          await res.arrayBuffer();
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // the server is down or restarting
        }
      }
    };
    const readers = Array.from({ length: 3 }, reader);
    // Three kills, each while writes are in flight, each followed by a restart on the same port.
    for (const after of [6, 20, 36]) {
      while (answered < after) await new Promise((r) => setTimeout(r, 5));
      await kill9(server.child);
      server = await spawnServer(t.dataDir, `127.0.0.1:${port}`);
    }
    await Promise.all(workers);
    writing = false;
    await Promise.all(readers);

    // Every answer is the write's own answer (a first answer or its replay), never a second attempt's refusal.
    for (const op of ops) {
      const a = answers.get(op.key)!;
      const lost = a.status === 409 && a.json?.error?.data?.event !== undefined;
      expect(a.status === 200 || lost, `${op.path} ${JSON.stringify(op.body)}: ${JSON.stringify(a.json)}`).toBe(true);
    }
    const get = async (path: string) => {
      const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${t.tokens.admin}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as any;
    };
    for (const ref of versions) {
      const v = await get(`/api/v1/model-versions/show?ref=${encodeURIComponent(ref)}`);
      expect(v.approvals.filter((a: any) => a.alias === 'staging' && a.approver === 'bob')).toHaveLength(1);
    }
    const history = await get('/api/v1/models/fault/history');
    for (let i = 0; i < versions.length; i++)
      expect(history.events.filter((e: any) => e.alias === `lane${i}`)).toHaveLength(1);
    const tokens = await get('/api/v1/tokens?user=carol');
    for (let i = 0; i < 16; i++) expect(tokens.filter((k: any) => k.label === `fault-${i}`)).toHaveLength(1);
    const tags = await get('/api/v1/audit/events?action=dataset.tag&outcome=ok');
    for (let i = 0; i < 16; i++)
      expect(
        tags.filter((e: any) => e.event.params?.tag === `t${i}`),
        `tag t${i}`,
      ).toHaveLength(1);

    const readEvents = (await get('/api/v1/audit/events?action=server.read&actor=admin&limit=100000')) as Array<{
      event: { target: { name: string }; params?: { query?: { limit?: unknown } } };
    }>;
    const logged = readEvents
      .filter((e) => e.event.target.name === 'runs.list')
      .map((e) => Number(e.event.params?.query?.limit));
    expect(readsAnswered.size).toBeGreaterThan(0);
    for (const marker of readsAnswered)
      expect(
        logged.filter((l) => l === marker),
        `answered read ${marker}`,
      ).toHaveLength(1);
    // A read cut off by the kill may or may not have been logged, but never twice or unsent.
    for (const l of logged) expect(readsSent.has(l), `logged read ${l} was sent`).toBe(true);
    expect(new Set(logged).size).toBe(logged.length);

    // The whole log verifies on a client, with the key it pinned.
    const env = { ...process.env, CAIRN_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'cairn-cfg-')), CAIRN_SERVER: '' };
    await login(server.url, t.tokens.carol!, env);
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    const report = await withServices({ cwd, env: { ...env, CAIRN_WORKSPACE: '' } }, (s) => s.audit.verify({}));
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    await kill9(server.child);
  });
});
