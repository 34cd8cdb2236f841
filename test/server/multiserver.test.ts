/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP and service answers are checked field by field */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { addVersion } from '../../src/datasets/add.js';
import { openMetaStore, type MetaStore } from '../../src/meta/open.js';
import { BlobKind, encodeFooter, encodeHeader, encodeIndex, type PackEntry } from '../../src/storage/pack/format.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { useSharedS3 } from '../../src/test-support/s3-server.js';
import { dropSchema, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startTeam, type Team, announcedUrl } from './harness.js';

/**
 * Two real `cairn server start` processes (the built CLI) on one PostgreSQL schema and one folder
 * store, as behind a load balancer (docs/SERVER.md "Several server processes"): pushes spread over
 * both land exactly once, racing commits of one pack key on the two keep one sound copy, and a
 * process killed (kill -9) while it holds the import lets the other go on once its lease runs out.
 */
const pg = await postgresAvailable();
if (!pg) console.warn('multiserver.test: PostgreSQL not reachable: skipped');
const LEASE_MS = 1500;
const PUSHERS = 20;
const LATE = 6;

const needS3 = useSharedS3();
const children: ChildProcess[] = [];
const schemas: string[] = [];
let t: Team;
let storeDir = '';
let meta: MetaStore;
let a: { child: ChildProcess; url: string };
let b: { child: ChildProcess; url: string };

function freshSchemaUrl(): string {
  const name = `cairn_multiserver_${randomBytes(5).toString('hex')}`;
  schemas.push(name);
  const u = new URL(PG_BASE_URL);
  u.searchParams.set('schema', name);
  return u.toString();
}

async function spawnServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = cliSpawn(['server', 'start', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    cwd: dataDir,
    env: { ...process.env, CAIRN_STORE_LOCK_LEASE_MS: String(LEASE_MS) },
  });
  children.push(child);
  const url = await announcedUrl(child);
  return { child, url };
}

beforeAll(async () => {
  if (!pg) return;
  const u = new URL(freshSchemaUrl());
  storeDir = mkdtempSync(join(tmpdir(), 'cairn-store-'));
  const roles: Record<string, 'admin' | 'contributor' | 'viewer'> = {
    admin: 'admin',
    alice: 'contributor',
    mallory: 'contributor',
    carol: 'viewer',
  };
  for (let i = 0; i < PUSHERS; i++) roles[`p${i}`] = 'contributor';
  for (let i = 0; i < LATE; i++) roles[`k${i}`] = 'contributor';
  // Accounts and tokens made in-process, then the same data dir served by two processes at once.
  t = await startTeam({ db: u.toString(), store: `file://${storeDir}`, roles });
  await t.close();
  a = await spawnServer(t.dataDir);
  b = await spawnServer(t.dataDir);
  meta = await openMetaStore(u.toString());
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await meta?.close();
  for (const name of schemas) await dropSchema(name).catch(() => {});
});

async function call(base: string, who: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${t.tokens[who]}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json().catch(() => null)) as any };
}

/** A sound pack of random blobs, named by its index's digest, and its store key. */
function soundPack(next: () => number): { key: string; bytes: Buffer } {
  const blobs = Array.from({ length: 3 }, () =>
    Buffer.from(prng(Math.floor(next() * 1e9), 2000 + Math.floor(next() * 3000))),
  );
  const entries: PackEntry[] = [];
  let offset = 16;
  for (const x of blobs) {
    entries.push({ id: createHash('sha256').update(x).digest('hex'), offset, length: x.length, kind: BlobKind.chunk });
    offset += x.length;
  }
  const index = encodeIndex(entries);
  const { footer, packId } = encodeFooter(offset, index);
  return {
    key: `packs/${packId.slice(0, 2)}/${packId}.pack`,
    bytes: Buffer.concat([encodeHeader(), ...blobs, index, footer]),
  };
}

async function plan(base: string, who: string, key: string, bytes: Buffer) {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const md5 = createHash('md5').update(bytes).digest('base64');
  const r = await call(base, who, 'POST', '/api/v1/store/plan', {
    objects: [{ key, size: bytes.length, sha256, md5 }],
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.objects[0];
}

/** Sends a planned upload: through the server (folder store), or to S3 on its URL and then committed. */
async function put(base: string, who: string, up: any, bytes: Buffer) {
  const direct = /^https?:/.test(up.request.url);
  const res = await fetch(direct ? up.request.url : base + up.request.url, {
    method: 'PUT',
    headers: direct
      ? up.request.headers
      : { authorization: `Bearer ${t.tokens[who]}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (!direct || res.status !== 200) return res.status;
  const commit = await call(base, who, 'POST', '/api/v1/store/commit', { uploads: [up.uploadId] });
  return commit.status;
}

/** Alice's sound pack and mallory's garbage of its size, planned and sent through two processes at seeded offsets. */
async function raceOnce(seed: number, x: { url: string }, y: { url: string }, read: (key: string) => Buffer) {
  const next = mulberry32(seed);
  const { key, bytes } = soundPack(next);
  const garbage = prng(seed * 7919, bytes.length);
  // Both plan the key while the store does not hold it, each through another process.
  const [first, second] = next() < 0.5 ? [x, y] : [y, x];
  const mine = await plan(first.url, 'alice', key, bytes);
  const theirs = await plan(second.url, 'mallory', key, garbage);
  expect([mine.present, theirs.present]).toEqual([false, false]);
  const wait = () => new Promise((r) => setTimeout(r, Math.floor(next() * 12)));
  const statuses = await Promise.all([
    wait().then(() => put(first.url, 'alice', mine, bytes)),
    wait().then(() => put(second.url, 'mallory', theirs, garbage)),
  ]);
  expect(statuses, `seed ${seed}`).toEqual([200, 200]);
  // In every interleaving: alice's sound bytes under the key, recorded as hers.
  expect(read(key).equals(bytes), `seed ${seed}: the sound pack holds the key`).toBe(true);
  const rec = JSON.parse(read(`uploaders/${key.slice('packs/'.length)}.json`).toString('utf8'));
  expect(rec.account, `seed ${seed}`).toBe('alice');
}

/** A laptop of `who` with one dataset `name`, signed in to `url` as remote `team`. */
async function laptop(who: string, name: string, url: string, seed: number) {
  const home = mkdtempSync(join(tmpdir(), `cairn-${who}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(home, 'config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_TOKEN: '',
  };
  await login(url, t.tokens[who]!, env);
  const ws = join(home, 'ws');
  const w = await newWorkspace(ws, { actor: `${who}@laptop` });
  const src = join(home, 'src');
  writeTree(src, { 'part.bin': prng(seed, 40_000 + seed), 'rows.csv': `id,y\n${seed},1\n` });
  await addVersion(w, { source: src, name });
  await w.close();
  const run = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: ws, env }, fn);
  await run((s) => s.transfer.addRemote('team', url, {}));
  return { env, run, home };
}

async function versionsOf(dataset: string): Promise<string[]> {
  const rows = await meta.db
    .selectFrom('dataset_versions')
    .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
    .select('dataset_versions.digest')
    .where('datasets.name', '=', dataset)
    .execute();
  return rows.map((r) => r.digest);
}

function storeState(): any {
  return JSON.parse(readFileSync(join(storeDir, 'meta', 'state.json'), 'utf8'));
}

describe.skipIf(!pg)('several server processes on one PostgreSQL database and one folder store', () => {
  it('racing commits of one pack key on the two processes keep one sound copy, whoever lands first (seeded)', async () => {
    for (let seed = 1; seed <= 12; seed++) await raceOnce(seed, a, b, (key) => readFileSync(join(storeDir, key)));
  }, 120_000);

  it(`${PUSHERS} pushes spread over both processes: every version once in the database and in meta/state.json; pulls verify`, async () => {
    const next = mulberry32(42);
    const targets = Array.from({ length: PUSHERS }, () => (next() < 0.5 ? a : b));
    const pushes = await Promise.allSettled(
      targets.map(async (srv, i) => {
        const l = await laptop(`p${i}`, `data-${i}`, srv.url, 1000 + i);
        return l.run((s) => s.transfer.push([], { remote: 'team' }));
      }),
    );
    const failed = pushes.flatMap((r, i) => (r.status === 'rejected' ? [`p${i}: ${String(r.reason)}`] : []));
    expect(failed).toEqual([]);
    const state = storeState();
    for (let i = 0; i < PUSHERS; i++) {
      const digests = await versionsOf(`data-${i}`);
      expect(digests, `data-${i} in the database`).toHaveLength(1);
      expect(
        state.versions.filter((v: any) => v.digest === digests[0]),
        `data-${i} in meta/state.json`,
      ).toHaveLength(1);
    }
    expect(state.generation).toBeGreaterThanOrEqual(PUSHERS);
    // A reader pulls everything through either process, every blob re-hashed on the way.
    const carol = await laptop('carol', 'carol-own', b.url, 1);
    const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.versions.length).toBeGreaterThanOrEqual(PUSHERS);
    const out = mkdtempSync(join(tmpdir(), 'cairn-out-'));
    await carol.run((s) => s.datasets.checkout({ ref: 'data-7@v1', dir: out }));
    expect(readFileSync(join(out, 'part.bin')).equals(Buffer.from(prng(1007, 41_007)))).toBe(true);
  }, 600_000);

  it('kill -9 of a process while it holds the import: the other goes on after the lease, and a retry lands', async () => {
    const before = storeState().generation as number;
    const laptops = await Promise.all(
      Array.from({ length: LATE }, (_, i) => laptop(`k${i}`, `late-${i}`, a.url, 5000 + i)),
    );
    const pushes = laptops.map((l) => l.run((s) => s.transfer.push([], { remote: 'team' })));
    const settled = Promise.allSettled(pushes);
    // Watch the lock rows: the first time the import is held (only process A has pushes), kill A.
    let seen = false;
    for (let i = 0; i < 20_000 && !seen; i++) {
      const row = await meta.db
        .selectFrom('store_locks')
        .select('name')
        .where('name', '=', 'store:import')
        .executeTakeFirst();
      if (row) seen = true;
      else await new Promise((r) => setTimeout(r, 2));
    }
    expect(seen, 'an import was seen holding the lock').toBe(true);
    const gone = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGKILL');
    await gone;
    const results = await settled;
    // Whatever failed with A gone is pushed again through B (signed in there): nothing is lost.
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') continue;
      const l = laptops[i]!;
      await login(b.url, t.tokens[`k${i}`]!, l.env);
      await l.run((s) => s.transfer.addRemote('team-b', b.url, {}));
      await l.run((s) => s.transfer.push([], { remote: 'team-b' }));
    }
    expect(
      results.some((r) => r.status === 'rejected'),
      'the kill interrupted at least one push',
    ).toBe(true);
    const state = storeState();
    for (let i = 0; i < LATE; i++) {
      const digests = await versionsOf(`late-${i}`);
      expect(digests, `late-${i}`).toHaveLength(1);
      expect(
        state.versions.filter((v: any) => v.digest === digests[0]),
        `late-${i} in meta/state.json`,
      ).toHaveLength(1);
    }
    // Nothing of the earlier pushes went missing, and the state only moved forward.
    for (let i = 0; i < PUSHERS; i++) expect(await versionsOf(`data-${i}`)).toHaveLength(1);
    expect(state.versions).toHaveLength(PUSHERS + LATE);
    expect(state.generation).toBeGreaterThan(before);
    // What A held when it died is no lock any more: every lock row left is past its lease (B's
    // own process lease, `process:<id>`, is live while B runs).
    const rows = await meta.db.selectFrom('store_locks').selectAll().where('name', 'like', 'store:%').execute();
    expect(rows.filter((r) => Number(r.expires_at) > Date.now())).toEqual([]);
  }, 600_000);
});

describe.skipIf(!pg)('several server processes on one PostgreSQL database and one S3 bucket (s3rver)', () => {
  it('racing commits of one pack key (presigned uploads, server-side copies) keep one sound copy (seeded)', async (ctx) => {
    const s3 = needS3(ctx);
    const prefix = `multi-${randomBytes(3).toString('hex')}`;
    const team = await startTeam({
      db: freshSchemaUrl(),
      store: `s3://${s3.bucket}/${prefix}`,
      storeEndpoint: s3.endpoint,
      roles: { admin: 'admin', alice: 'contributor', mallory: 'contributor' },
    });
    await team.close();
    const saved = t;
    t = team;
    try {
      const x = await spawnServer(team.dataDir);
      const y = await spawnServer(team.dataDir);
      // s3rver keeps each object's bytes in a file beside its metadata.
      const read = (key: string) => readFileSync(join(s3.directory, s3.bucket, prefix, `${key}._S3rver_object`));
      for (let seed = 101; seed <= 108; seed++) await raceOnce(seed, x, y, read);
    } finally {
      t = saved;
    }
  }, 240_000);
});
