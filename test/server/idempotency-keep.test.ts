import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from './harness.js';

/**
 * A write's answer is kept for retries after it is sent (keeping it must not delay the answer).
 * A retry that arrives in between must be told to wait, never that the write "took effect but the
 * server stopped before answering": the server is up and about to keep that answer. The slow
 * keeping is made slow for real: a transaction of this test holds the claim's row.
 */
const pgUp = await postgresAvailable();
if (!pgUp) {
  if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error('idempotency-keep.test: PostgreSQL not reachable');
  console.warn('idempotency-keep.test: PostgreSQL not reachable: skipped');
}

let t: Team;
let holder: pg.Client;
const schema = `cairn_idk_${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
  if (!pgUp) return;
  const u = new URL(PG_BASE_URL);
  u.searchParams.set('schema', schema);
  t = await startTeam({ db: u.toString() });
  holder = new pg.Client({ connectionString: PG_BASE_URL, options: `-c search_path=${schema}` });
  await holder.connect();
});
afterAll(async () => {
  await holder?.end();
  await t?.close();
  if (pgUp) await dropSchema(schema);
});

/** Until a statement of the server waits on the row this test holds (and no longer). */
async function waitingOnLock(): Promise<void> {
  const me = (await holder.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  for (let i = 0; i < 1000; i++) {
    const r = await holder.query(
      'select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
      [me],
    );
    if (r.rows[0].n > 0) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('the answer was never written');
}

describe.skipIf(!pgUp)('an answer being kept for retries', () => {
  it('a retry meanwhile is told to wait (busy), then gets the kept answer', async () => {
    const idem = t.server.runtime.idempotency;
    expect(await idem.claim('alice', 'k1', 'digest')).toEqual({ state: 'new' });
    // The write commits: its transaction marks the claim committed by this process, at event 7.
    const row = await holder.query(`select response from idempotency_keys where principal = 'alice' and key = 'k1'`);
    const boot = String(row.rows[0].response).split(':')[1];
    await holder.query(`update idempotency_keys set response = $1 where principal = 'alice' and key = 'k1'`, [
      `committed:${boot}:7`,
    ]);
    await holder.query('begin');
    await holder.query(`select * from idempotency_keys where principal = 'alice' and key = 'k1' for update`);
    const keeping = idem.complete('alice', 'k1', 200, '{"ok":true}');
    await waitingOnLock();
    expect(await idem.claim('alice', 'k1', 'digest')).toMatchObject({ state: 'busy' });
    await holder.query('commit');
    await keeping;
    expect(await idem.claim('alice', 'k1', 'digest')).toEqual({ state: 'done', status: 200, response: '{"ok":true}' });
  });
});
