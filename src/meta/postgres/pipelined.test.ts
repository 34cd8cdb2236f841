import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { dropSchema, freshPgUrl, PG_BASE_URL, postgresAvailable } from '../../test-support/services.js';
import { mulberry32 } from '../../test-support/prng.js';
import { openMetaStore, type MetaStore } from '../open.js';
import { readSnapshot } from '../repos/snapshot.js';
import { pipelineable } from './pipelined.js';

describe('pipelineable: only reads that leave nothing on their session', () => {
  it.each([
    ['select * from "runs" where "id" = $1', true],
    ['  SELECT n from identity_generation', true],
    ['with x as (select 1) select * from x', true],
    ['with h as (update audit_head set size = $1 returning id) insert into e select 1', false],
    ['select * from audit_head where id = 1 for update', false],
    ['select * from t for no key update', false],
    ['select * from t for share', false],
    ['select pg_advisory_lock(1)', false],
    ['select pg_try_advisory_lock(1)', false],
    ["select set_config('search_path', 'x', false)", false],
    ['select nextval($1)', false],
    ['select * into temp t2 from t', false],
    ['insert into t values (1)', false],
    ['update t set a = 1', false],
    ['delete from t', false],
    ['begin', false],
    ['set search_path to x', false],
    ['listen x', false],
    ['create table t (a int)', false],
  ])('%s → %s', (text, expected) => {
    expect(pipelineable(text)).toBe(expected);
  });
});

// Awaited at the top so an unreachable server skips loudly (or fails with CAIRN_REQUIRE_SERVICES=1).
const available = await postgresAvailable();

describe.skipIf(!available)('pipelined reads on PostgreSQL', () => {
  let store: MetaStore;
  let schema: string;
  let url: string;
  beforeAll(async () => {
    ({ url, schema } = freshPgUrl());
    url += `&application_name=${schema}`;
    // Pipelined by default (pipeline=off turns it off).
    store = await openMetaStore(url);
    await sql`create table pipe_t (k integer primary key, v text not null)`.execute(store.db);
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  it('answers each statement of one turn with its own rows, an error failing its statement alone, in few writes', async () => {
    let writes = 0;
    const w = net.Socket.prototype._write;
    const wv = net.Socket.prototype._writev!;
    net.Socket.prototype._write = function (this: net.Socket, ...a: Parameters<typeof w>) {
      if (this.remotePort === 5432) writes++;
      return w.apply(this, a);
    };
    net.Socket.prototype._writev = function (this: net.Socket, ...a: Parameters<typeof wv>) {
      if (this.remotePort === 5432) writes++;
      return wv.apply(this, a);
    };
    // Warm: the pipelined connections are open and the statement prepared before counting.
    await Promise.all([1, 2, 3, 4].map((i) => sql`select ${i}::int as v`.execute(store.db)));
    writes = 0;
    let out: Array<PromiseSettledResult<number>>;
    try {
      out = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          i === 37
            ? sql<{ v: number }>`select 1 / (${i}::int - 37) as v`.execute(store.db).then((r) => r.rows[0]!.v)
            : sql<{ v: number }>`select ${i}::int as v`.execute(store.db).then((r) => r.rows[0]!.v),
        ),
      );
    } finally {
      net.Socket.prototype._write = w;
      net.Socket.prototype._writev = wv;
    }
    for (const [i, r] of out.entries()) {
      if (i === 37) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/division by zero/);
      } else expect(r).toEqual({ status: 'fulfilled', value: i });
    }
    // One write per pipelined connection (2) for the 100 statements, plus the parse of the new
    // statement text; without the pipeline it was one write per statement.
    expect(writes).toBeLessThanOrEqual(4);
  });

  it('describes a named statement once per connection: its later answers read as the first did (types, nulls, errors)', async () => {
    const proto = (pg as unknown as { Connection: { prototype: { describe(o: unknown): void } } }).Connection.prototype;
    const describe = proto.describe;
    let described = 0;
    proto.describe = function (this: unknown, o: unknown) {
      described++;
      return describe.call(this, o);
    };
    try {
      const read = (i: number) =>
        sql<
          Record<string, unknown>
        >`select ${i}::int as i, ${i}::text as s, case when ${i}::int % 2 = 0 then null else ${i}::int end as n, jsonb_build_object('a', ${i}::int) as j, (${i}::bigint * 10000000000) as b, 1 / (${i}::int - 13) as d`.execute(
          store.db,
        );
      // In batches: a statement's first answer on a connection brings the description kept.
      const out: Array<PromiseSettledResult<{ rows: Array<Record<string, unknown>> }>> = [];
      for (let b = 0; b < 40; b += 10)
        out.push(...(await Promise.allSettled(Array.from({ length: 10 }, (_, i) => read(b + i)))));
      for (const [i, r] of out.entries()) {
        if (i === 13) {
          expect(r.status === 'rejected' && String(r.reason)).toMatch(/division by zero/);
          continue;
        }
        expect(r.status === 'fulfilled' && r.value.rows).toEqual([
          {
            i,
            s: String(i),
            n: i % 2 === 0 ? null : i,
            j: { a: i },
            b: i * 10_000_000_000,
            d: i === 12 ? -1 : i === 14 ? 1 : 0,
          },
        ]);
      }
      // Only in the first batch (each of the two pipelined connections then described it), not once per statement.
      expect(described).toBeLessThanOrEqual(10);
      described = 0;
      const again = await read(20);
      expect(again.rows[0]).toMatchObject({ i: 20, n: null, j: { a: 20 } });
      expect(described).toBe(0);
      // A table whose columns change under a statement kept prepared: PostgreSQL refuses to run
      // it (as it did before descriptions were kept), so no row is ever read with an old one.
      await sql`create table pipe_shape (a int)`.execute(store.db);
      await sql`insert into pipe_shape values (1)`.execute(store.db);
      const shape = () => sql<Record<string, unknown>>`select * from pipe_shape where a = ${1}`.execute(store.db);
      await Promise.all(Array.from({ length: 8 }, shape));
      await sql`alter table pipe_shape add column b text default 'x'`.execute(store.db);
      const after = await Promise.allSettled(Array.from({ length: 8 }, shape));
      for (const r of after)
        if (r.status === 'fulfilled') expect(r.value.rows).toEqual([{ a: 1, b: 'x' }]);
        else expect(String(r.reason)).toMatch(/cached plan must not change result type/);
    } finally {
      proto.describe = describe;
    }
  });

  it('describes a named statement once on a pool connection too (statements of a transaction): rows and errors as before', async () => {
    const proto = (pg as unknown as { Connection: { prototype: { describe(o: unknown): void } } }).Connection.prototype;
    const describe = proto.describe;
    let described = 0;
    proto.describe = function (this: unknown, o: unknown) {
      described++;
      return describe.call(this, o);
    };
    try {
      const got = await store.db.transaction().execute(async (trx) => {
        const rows: unknown[] = [];
        for (let i = 0; i < 20; i++) {
          const r = await sql<{
            i: number;
            n: number | null;
          }>`insert into pipe_t (k, v) values (${5000 + i}, ${`v${i}`}) returning k as i, case when ${i}::int % 3 = 0 then null else ${i}::int end as n`.execute(
            trx,
          );
          rows.push(r.rows[0]);
        }
        return rows;
      });
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ({ i: 5000 + i, n: i % 3 === 0 ? null : i })));
      // Once (or once per pool connection the transactions ran on), not once per statement.
      expect(described).toBeLessThanOrEqual(2);
      await expect(
        store.db
          .transaction()
          .execute((trx) => sql`insert into pipe_t (k, v) values (${5000}, ${'dup'}) returning k`.execute(trx)),
      ).rejects.toThrow(/duplicate key/);
    } finally {
      proto.describe = describe;
      await sql`delete from pipe_t where k >= 5000`.execute(store.db);
    }
  });

  it('a read issued after a commit was acknowledged sees it (seeded random interleavings)', async () => {
    const rnd = mulberry32(0x5eed_11);
    for (let round = 0; round < 40; round++) {
      const k = round;
      const readers = Math.floor(rnd() * 5);
      // Reads in flight while the write commits may see it or not; a read after the commit must.
      const early = Array.from({ length: readers }, () => sql`select * from pipe_t`.execute(store.db));
      await store.db.transaction().execute(async (trx) => {
        await sql`insert into pipe_t (k, v) values (${k}, ${`v${k}`})`.execute(trx);
        // Inside the transaction the row is there (the select runs on the transaction's connection) …
        const inside = await sql<{ v: string }>`select v from pipe_t where k = ${k}`.execute(trx);
        expect(inside.rows).toEqual([{ v: `v${k}` }]);
        // … and outside it is not yet.
        const outside = await sql<{ v: string }>`select v from pipe_t where k = ${k}`.execute(store.db);
        expect(outside.rows).toEqual([]);
      });
      const after = await sql<{ v: string }>`select v from pipe_t where k = ${k}`.execute(store.db);
      expect(after.rows).toEqual([{ v: `v${k}` }]);
      await Promise.all(early);
    }
  });

  it('a snapshot on db.connection() keeps its connection: a commit meanwhile is not seen inside it', async () => {
    const seen = await readSnapshot(store.db, 'postgres', async (snap) => {
      const before = await sql<{ n: number }>`select count(*)::int as n from pipe_t`.execute(snap);
      await sql`insert into pipe_t (k, v) values (1000, 'late')`.execute(store.db);
      const after = await sql<{ n: number }>`select count(*)::int as n from pipe_t`.execute(snap);
      return [before.rows[0]!.n, after.rows[0]!.n];
    });
    expect(seen[0]).toBe(seen[1]);
    const now = await sql<{ n: number }>`select count(*)::int as n from pipe_t`.execute(store.db);
    expect(now.rows[0]!.n).toBe(seen[0]! + 1);
  });

  it('a session setting on db.connection() stays with its statements', async () => {
    const got = await store.db.connection().execute(async (conn) => {
      await sql`set application_name = 'pipe_session_check'`.execute(conn);
      return (await sql<{ a: string }>`select current_setting('application_name') as a`.execute(conn)).rows[0]!.a;
    });
    expect(got).toBe('pipe_session_check');
  });

  it('comes back after its connections are terminated (a restart, an admin): the next statements work', async () => {
    await sql`select 1`.execute(store.db);
    const admin = new pg.Client({ connectionString: PG_BASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        'select pg_terminate_backend(pid) as gone from pg_stat_activity where application_name = $1',
        [schema],
      );
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    // The statements in flight when the connection went fail; the ones after get new connections.
    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) {
      ok = await sql<{ v: number }>`select ${i}::int as v`
        .execute(store.db)
        .then((r) => r.rows[0]!.v === i)
        .catch(() => false);
    }
    expect(ok).toBe(true);
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sql<{ v: number }>`select ${i}::int as v`.execute(store.db)),
    );
    expect(all.map((r) => r.rows[0]!.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('pipeline=off is taken (a write per statement) and any other value refused with CONFIG_INVALID', async () => {
    const { url: other, schema: s2 } = freshPgUrl();
    try {
      const off = await openMetaStore(`${other}&pipeline=off`);
      expect((await sql<{ v: number }>`select ${7}::int as v`.execute(off.db)).rows[0]!.v).toBe(7);
      let writes = 0;
      const w = net.Socket.prototype._write;
      const wv = net.Socket.prototype._writev!;
      net.Socket.prototype._write = function (this: net.Socket, ...a: Parameters<typeof w>) {
        if (this.remotePort === 5432) writes++;
        return w.apply(this, a);
      };
      net.Socket.prototype._writev = function (this: net.Socket, ...a: Parameters<typeof wv>) {
        if (this.remotePort === 5432) writes++;
        return wv.apply(this, a);
      };
      try {
        await Promise.all(Array.from({ length: 20 }, (_, i) => sql`select ${i}::int as v`.execute(off.db)));
      } finally {
        net.Socket.prototype._write = w;
        net.Socket.prototype._writev = wv;
      }
      expect(writes).toBeGreaterThanOrEqual(20);
      await off.close();
      await expect(openMetaStore(`${other}&pipeline=maybe`)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await dropSchema(s2);
    }
  });

  it('a statement held up behind long ones on every pipelined connection goes to the pool instead', async () => {
    const order: string[] = [];
    const slow = [1, 2].map((i) =>
      sql`select pg_sleep(0.5), ${i}::int as i`.execute(store.db).then(() => order.push(`slow${i}`)),
    );
    // Past STUCK_MS (50 ms) both pipelined connections count as held up.
    await new Promise((r) => setTimeout(r, 150));
    await sql`select ${3}::int as v`.execute(store.db).then(() => order.push('quick'));
    await Promise.all(slow);
    expect(order[0]).toBe('quick');
  });
});
