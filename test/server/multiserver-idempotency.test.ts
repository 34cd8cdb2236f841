/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team, announcedUrl } from './harness.js';

/**
 * One Idempotency-Key, two real `cairn server start` processes on one PostgreSQL schema
 * (docs/SERVER.md "Several server processes"): a client whose first attempt is still running on
 * A and whose retry reaches B is told to wait (409 running), never served a second run of the
 * write; once A is dead (kill -9) B takes the claim over and runs it; and A, stopped past its
 * lease and taken over, cannot commit its attempt after all. The slow write is made slow for real:
 * a transaction of this test holds the identity counter's row that every token creation updates.
 */
const pgUp = await postgresAvailable();
if (!pgUp) console.warn('multiserver-idempotency.test: PostgreSQL not reachable: skipped');
const LEASE_MS = 3000;
/** Longer than the busy-wait of the client below (busyAttempts 2: well under a second). */
const LONG_LEASE_MS = 6000;

const children: ChildProcess[] = [];
let schema = '';
let t: Team;
let holder: pg.Client;
let probe: pg.Client;
let holderPid = 0;

interface Proc {
  child: ChildProcess;
  url: string;
}

async function spawnServer(dataDir: string, leaseMs = LEASE_MS): Promise<Proc> {
  const child = cliSpawn(['server', 'start', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    cwd: dataDir,
    env: { ...process.env, CAIRN_STORE_LOCK_LEASE_MS: String(leaseMs) },
  });
  children.push(child);
  const url = await announcedUrl(child);
  return { child, url };
}

function pgClient(): pg.Client {
  const c = new pg.Client({ connectionString: PG_BASE_URL, options: `-c search_path=${schema}` });
  c.on('error', () => {});
  return c;
}

beforeAll(async () => {
  if (!pgUp) return;
  schema = `cairn_idem_${randomBytes(5).toString('hex')}`;
  const u = new URL(PG_BASE_URL);
  u.searchParams.set('schema', schema);
  t = await startTeam({ db: u.toString() });
  await t.close();
  holder = pgClient();
  probe = pgClient();
  await holder.connect();
  await probe.connect();
  holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await holder?.end().catch(() => {});
  await probe?.end().catch(() => {});
  if (schema) await dropSchema(schema).catch(() => {});
});

/** Holds the row every identity change updates: a token creation waits for it inside its transaction. */
async function hold(): Promise<() => Promise<void>> {
  await holder.query('begin');
  await holder.query('select n from identity_generation where id = 1 for update');
  return async () => void (await holder.query('rollback'));
}

/** The database sessions waiting for a lock that session `pid` holds. */
async function waitingOn(pid: number): Promise<number[]> {
  const r = await probe.query<{ pid: number }>(
    'select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
    [pid],
  );
  return r.rows.map((x) => x.pid);
}

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>): Promise<T> {
  for (let i = 0; i < 4000; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

async function createToken(p: Proc, key: string, label: string) {
  const res = await fetch(`${p.url}/api/v1/tokens`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.tokens.admin}`,
      'content-type': 'application/json',
      'idempotency-key': key,
    },
    body: JSON.stringify({ user: 'carol', label }),
  });
  return { status: res.status, json: (await res.json().catch(() => null)) as any };
}

const running = (a: { status: number; json: any }) => a.status === 409 && a.json?.error?.data?.running === true;

async function tokensLabelled(p: Proc, label: string): Promise<string[]> {
  const res = await fetch(`${p.url}/api/v1/tokens?user=carol`, {
    headers: { authorization: `Bearer ${t.tokens.admin}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as any[]).filter((k) => k.label === label).map((k) => k.id as string);
}

/**
 * Sends the retry on `p` while the first attempt is held, and tells what happened: B answered, or
 * B ran the write too (a session of it now waits behind the held first attempt's transaction).
 */
async function retryWhileHeld(p: Proc, key: string, label: string, first: number) {
  let answer: { status: number; json: any } | null = null;
  const sent = createToken(p, key, label).then((a) => (answer = a));
  await until('the retry answered or ran the write', async () => {
    if (answer) return true;
    const behind = [...(await waitingOn(first)), ...(await waitingOn(holderPid))];
    return behind.filter((pid) => pid !== first).length > 0;
  });
  return { answer: answer as { status: number; json: any } | null, sent };
}

describe.skipIf(!pgUp)('an Idempotency-Key across two server processes on one PostgreSQL database', () => {
  it('a retry on B while A still runs the write waits (409 running); the write happens once and B replays it', async () => {
    const a = await spawnServer(t.dataDir);
    const b = await spawnServer(t.dataDir);
    const key = `slow-${randomBytes(4).toString('hex')}`;
    const release = await hold();
    const firstAttempt = createToken(a, key, 'slow');
    const [first] = await until('the first attempt waits on the held row', async () => {
      const w = await waitingOn(holderPid);
      return w.length > 0 && w;
    });
    // Asked again and again while A is alive and its write waits (over two leases: A renews its own).
    const seen: Array<{ status: number; json: any } | null> = [];
    for (let i = 0; i < 5; i++) {
      const r = await retryWhileHeld(b, key, 'slow', first!);
      seen.push(r.answer);
      if (!r.answer) break;
      await new Promise((r) => setTimeout(r, LEASE_MS / 2));
    }
    await release();
    const answered = await firstAttempt;
    expect(answered.status, JSON.stringify(answered.json)).toBe(200);
    for (const s of seen) expect(s && running(s), `B's answer while A runs it: ${JSON.stringify(s)}`).toBe(true);
    expect(await tokensLabelled(b, 'slow')).toEqual([answered.json.id]);
    // Once A answered, B replays A's answer (a token's secret is not kept: it names the token).
    const replay = await createToken(b, key, 'slow');
    expect(replay.status).toBe(409);
    expect(replay.json.error.data.token).toBe(answered.json.id);
    for (const p of [a, b]) p.child.kill('SIGTERM');
  }, 120_000);

  it('kill -9 of A mid-write: B takes the claim over once A is dead, and the write happens once', async () => {
    const a = await spawnServer(t.dataDir);
    const b = await spawnServer(t.dataDir);
    const key = `killed-${randomBytes(4).toString('hex')}`;
    const release = await hold();
    void createToken(a, key, 'killed').catch(() => null);
    const [first] = await until('the first attempt waits on the held row', async () => {
      const w = await waitingOn(holderPid);
      return w.length > 0 && w;
    });
    const before = await retryWhileHeld(b, key, 'killed', first!);
    expect(before.answer && running(before.answer), JSON.stringify(before.answer)).toBe(true);
    const gone = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGKILL');
    await gone;
    await release();
    // What a client does: the same key again until the answer is not "still running".
    const after = await until('B answers', async () => {
      const r = await createToken(b, key, 'killed');
      return !running(r) && r;
    });
    expect(after.status, JSON.stringify(after.json)).toBe(200);
    expect(await tokensLabelled(b, 'killed')).toEqual([after.json.id]);
    b.child.kill('SIGTERM');
  }, 120_000);

  it("a client never gives up on a dead process's claim before its lease can run out (another host: no pid to check)", async () => {
    const a = await spawnServer(t.dataDir, LONG_LEASE_MS);
    const b = await spawnServer(t.dataDir, LONG_LEASE_MS);
    const key = `elsewhere-${randomBytes(4).toString('hex')}`;
    const release = await hold();
    void createToken(a, key, 'elsewhere').catch(() => null);
    await until('the first attempt waits on the held row', async () => (await waitingOn(holderPid)).length > 0);
    const gone = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGKILL');
    await gone;
    // A as if it had run on another host: B cannot ask the kernel, only wait for A's lease.
    const moved = await probe.query(
      `update store_locks set holder = $1 where name like 'process:%' and holder like $2`,
      [JSON.stringify({ host: 'another-host/boot', pid: 1 }), `%"pid":${a.child.pid}}`],
    );
    expect(moved.rowCount).toBe(1);
    await release();
    // The CLI's client, retrying with the first attempt's key, with a busy-wait far shorter than the lease.
    const sameKey: typeof fetch = (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), 'idempotency-key': key } });
    const client = new ApiClient({ url: b.url, token: t.tokens.admin!, fetch: sameKey, busyAttempts: 2 });
    const out = await client
      .call<{ id: string }>('tokens.create', { body: { user: 'carol', label: 'elsewhere' } })
      .catch((e: unknown) => e);
    expect((out as { id?: string }).id, String(out)).toBeTruthy();
    expect(await tokensLabelled(b, 'elsewhere')).toEqual([(out as { id: string }).id]);
    b.child.kill('SIGTERM');
  }, 120_000);

  it('A stopped past its lease is taken over by B; A, resumed, cannot commit its attempt: once', async () => {
    const a = await spawnServer(t.dataDir);
    const b = await spawnServer(t.dataDir);
    const key = `stalled-${randomBytes(4).toString('hex')}`;
    const release = await hold();
    const firstAttempt = createToken(a, key, 'stalled');
    const [first] = await until('the first attempt waits on the held row', async () => {
      const w = await waitingOn(holderPid);
      return w.length > 0 && w;
    });
    // A stalls (SIGSTOP): it renews nothing, its lease runs out, B takes the claim over and runs
    // the write, which waits behind A's still open transaction.
    a.child.kill('SIGSTOP');
    let taken: Promise<unknown> | null = null;
    await until('B takes the claim over', async () => {
      const r = await retryWhileHeld(b, key, 'stalled', first!);
      if (r.answer === null) taken = r.sent;
      else if (!running(r.answer)) throw new Error(`B answered ${JSON.stringify(r.answer)}`);
      else await new Promise((w) => setTimeout(w, 200));
      return r.answer === null;
    });
    a.child.kill('SIGCONT');
    await release();
    const fromA = await firstAttempt;
    expect(fromA.status, `A's attempt: ${JSON.stringify(fromA.json)}`).toBe(409);
    await taken;
    const fromB = await until('B answers', async () => {
      const r = await createToken(b, key, 'stalled');
      return !running(r) && r;
    });
    expect(fromB.status).toBe(409);
    const ids = await tokensLabelled(b, 'stalled');
    expect(ids).toHaveLength(1);
    expect(fromB.json.error.data.token).toBe(ids[0]);
    for (const p of [a, b]) p.child.kill('SIGTERM');
  }, 120_000);
});
