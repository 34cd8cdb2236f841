import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openMetaStore, type MetaStore } from '../meta/open.js';
import { mulberry32 } from '../test-support/prng.js';
import { dropSchema, PG_BASE_URL, postgresAvailable } from '../test-support/services.js';
import { leaseLocks, processLease } from './store-locks.js';

// Lease locks in the metadata database: what keeps several server processes on one store taking
// turns. Two lock sets on one database stand for two processes (each has its own holder id and its
// own in-memory queue, so only the database orders them).
const pg = await postgresAvailable();
if (!pg && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('PostgreSQL is required (CAIRN_REQUIRE_SERVICES=1)');
if (!pg) console.warn('store-locks.test: PostgreSQL not reachable, its cases are skipped');
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await dropSchema(s).catch(() => {});
});

const dialects: Array<{ name: string; open: () => Promise<MetaStore> }> = [
  { name: 'sqlite', open: () => openMetaStore(join(mkdtempSync(join(tmpdir(), 'cairn-locks-')), 'meta.db')) },
  ...(pg
    ? [
        {
          name: 'postgres',
          open: () => {
            const schema = `cairn_multiserver_${randomBytes(5).toString('hex')}`;
            schemas.push(schema);
            const u = new URL(PG_BASE_URL);
            u.searchParams.set('schema', schema);
            return openMetaStore(u.toString());
          },
        },
      ]
    : []),
];

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(dialects)('lease locks ($name)', ({ open }) => {
  it('two processes never hold one name at once: a read-modify-write under it loses no update (seeded interleavings)', async () => {
    const meta = await open();
    try {
      for (const seed of [1, 2, 3]) {
        const next = mulberry32(seed);
        const a = leaseLocks(meta.db);
        const b = leaseLocks(meta.db);
        let counter = 0;
        let inside = 0;
        let most = 0;
        const bump = async () => {
          inside++;
          most = Math.max(most, inside);
          const seen = counter;
          await pause(Math.floor(next() * 4));
          counter = seen + 1;
          inside--;
        };
        const ops = Array.from({ length: 40 }, () => (next() < 0.5 ? a : b));
        await Promise.all(
          ops.map(async (l, i) => {
            await pause(Math.floor(next() * 10));
            // A second name beside it is independent: it may run while the first is held.
            return i % 5 === 0 ? l.run('other', async () => {}) : l.run('state', bump);
          }),
        );
        expect(counter, `seed ${seed}`).toBe(32);
        expect(most, `seed ${seed}`).toBe(1);
        expect(await meta.db.selectFrom('store_locks').selectAll().execute()).toEqual([]);
      }
    } finally {
      await meta.close();
    }
  }, 60_000);

  it('a holder that died (its lease not renewed) blocks others only until its lease runs out; a live one is waited for', async () => {
    const meta = await open();
    try {
      // A process killed while holding the lock: its row stays, nobody renews it.
      await meta.db
        .insertInto('store_locks')
        .values({ name: 'store:import', holder: 'killed:1', expires_at: Date.now() + 400 })
        .execute();
      const order: string[] = [];
      await leaseLocks(meta.db).run('store:import', async () => void order.push('after the dead lease'));
      expect(order).toEqual(['after the dead lease']);

      // A live holder with a short lease keeps renewing it: the other waits for its release, not its lease.
      const live = leaseLocks(meta.db, { leaseMs: 150 });
      const other = leaseLocks(meta.db, { leaseMs: 150 });
      let release!: () => void;
      const held = live.run('k', async () => {
        order.push('live holds');
        await new Promise<void>((r) => (release = r));
        order.push('live releases');
      });
      await pause(50);
      const waiting = other.run('k', async () => void order.push('other gets it'));
      await pause(600); // four leases' worth
      release();
      await Promise.all([held, waiting]);
      expect(order.slice(1)).toEqual(['live holds', 'live releases', 'other gets it']);
    } finally {
      await meta.close();
    }
  }, 30_000);

  it('a lock held past the wait answers SERVER_UNAVAILABLE (retry), and the fn of a waiter never runs', async () => {
    const meta = await open();
    try {
      await meta.db
        .insertInto('store_locks')
        .values({ name: 'busy', holder: 'someone:1', expires_at: Date.now() + 60_000 })
        .execute();
      let ran = false;
      const err = await leaseLocks(meta.db, { waitMs: 200 })
        .run('busy', async () => void (ran = true))
        .catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('SERVER_UNAVAILABLE');
      expect(ran).toBe(false);
    } finally {
      await meta.close();
    }
  });
});

describe.each(dialects)('process leases ($name)', ({ open }) => {
  it('a process is alive while it renews; dead once stopped, once its lease ran out, or (same host) once its pid is gone', async () => {
    const meta = await open();
    try {
      // Long leases: a renews every third of its lease, and a renewal between the forged expiry
      // below and the check would bring it back to life (seen once under a loaded full run).
      const a = await processLease(meta.db, { leaseMs: 3_600_000 });
      const b = await processLease(meta.db, { leaseMs: 3_600_000 });
      expect(await b.alive(a.id)).toBe(true);
      expect(await b.alive('never-registered')).toBe(false);
      // Renewed past its first lease: still alive.
      const short = await processLease(meta.db, { leaseMs: 1500 });
      await pause(3000);
      expect(await b.alive(short.id)).toBe(true);
      await short.close();
      expect(await b.alive(short.id)).toBe(false);
      // A row whose lease ran out (a process that stopped renewing, on any host).
      const row = (await meta.db
        .selectFrom('store_locks')
        .selectAll()
        .where('name', '=', `process:${a.id}`)
        .executeTakeFirst())!;
      await meta.db
        .updateTable('store_locks')
        .set({ expires_at: Date.now() - 1000 })
        .where('name', '=', row.name)
        .execute();
      expect(await b.alive(a.id)).toBe(false);
      // A live lease on this host whose pid no longer exists (kill -9): dead at once.
      const gone = spawnSync(process.execPath, ['-e', '']).pid!;
      const them = { ...(JSON.parse(row.holder) as object), pid: gone };
      await meta.db
        .insertInto('store_locks')
        .values({ name: 'process:killed', holder: JSON.stringify(them), expires_at: Date.now() + 60_000 })
        .execute();
      expect(await b.alive('killed')).toBe(false);
      // The same on another host: only its lease can tell.
      await meta.db
        .updateTable('store_locks')
        .set({ holder: JSON.stringify({ ...them, host: 'elsewhere/boot' }) })
        .where('name', '=', 'process:killed')
        .execute();
      expect(await b.alive('killed')).toBe(true);
      await a.close();
      await b.close();
    } finally {
      await meta.close();
    }
  }, 30_000);
});
