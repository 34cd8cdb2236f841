import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { CairnError } from '../core/errors.js';
import { isPostgres } from '../meta/repos/bulk.js';
import type { Database } from '../meta/schema.js';

/**
 * Named locks around the team server's read-modify-write steps on its store (the import that
 * writes `meta/state.json`, each pack key's commit and check, each account's proposal, each
 * workspace's claim): one holder at a time for a name, in this process and, for locks kept in the
 * metadata database, in every server process on that database (docs/SERVER.md "Several server
 * processes").
 */
export interface StoreLocks {
  /** Runs `fn` holding `name`, after every earlier holder of it released it. */
  run<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Runs `fn` after every earlier call for `name` on `chains` settled (one process's queue per name). */
function chained<T>(chains: Map<string, Promise<void>>, name: string, fn: () => Promise<T>): Promise<T> {
  const before = chains.get(name) ?? Promise.resolve();
  const mine = before.then(fn);
  const settled = mine.then(
    () => {},
    () => {},
  );
  chains.set(name, settled);
  void settled.then(() => {
    if (chains.get(name) === settled) chains.delete(name);
  });
  return mine;
}

const processWide = new Map<string, Promise<void>>();

/**
 * Locks within this process only: a store opened without a metadata database (tests of the data
 * plane alone), where one process is all there is. Shared by every store the process opens.
 */
export function processLocks(): StoreLocks {
  return { run: (name, fn) => chained(processWide, name, fn) };
}

export interface LeaseOptions {
  /** How long a holder that stops renewing keeps the lock (default 15 s): a killed process's wait. */
  leaseMs?: number;
  /** How long to wait for a lock another process holds before answering 503 (default 2 minutes). */
  waitMs?: number;
}

/**
 * Locks kept as lease rows in the metadata database (table `store_locks`, migration 0014), so
 * every server process on one database (PostgreSQL, or one SQLite file on one host) takes turns.
 * A row is taken by an insert that may only replace an expired row, so of two processes one gets
 * it; the holder renews it every third of the lease while `fn` runs and deletes it after. A process
 * killed while holding one (kill -9, a lost host) holds nothing once its lease runs out. No
 * connection is held while waiting or working (the pool stays free for the work itself); a waiter
 * polls with backoff. Within the process, callers of one name queue in memory first, so only one
 * of them polls the database at a time.
 */
export function leaseLocks(db: Kysely<Database>, o: LeaseOptions = {}): StoreLocks {
  const leaseMs = o.leaseMs ?? 15_000;
  const waitMs = o.waitMs ?? 120_000;
  const chains = new Map<string, Promise<void>>();
  const me = randomUUID();
  let n = 0;
  // Leases are written and read on the database's clock: server processes on several hosts
  // disagree about the time, and a host whose clock is behind by more than a lease would write
  // leases the others read as long expired (and take the lock from under it).
  const now = dbNowMs(db);
  const until = (): RawBuilder<number> => sql<number>`${now} + ${leaseMs}`;
  const take = async (name: string, token: string): Promise<boolean> => {
    const r = await db
      .insertInto('store_locks')
      .values({ name, holder: token, expires_at: until() })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ holder: token, expires_at: until() }).where('store_locks.expires_at', '<', now),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  };
  const acquire = async (name: string, token: string) => {
    const until = Date.now() + waitMs;
    for (let pause = 2; !(await take(name, token)); pause = Math.min(pause * 2, 100)) {
      if (Date.now() > until)
        throw new CairnError('SERVER_UNAVAILABLE', `the store lock ${name} stayed held for ${waitMs / 1000} s`, {
          hint: 'another server process is busy with it (or stopped while holding it): try again',
          data: { lock: name },
        });
      await new Promise((r) => setTimeout(r, pause + Math.random() * pause));
    }
  };
  return {
    run: (name, fn) =>
      chained(chains, name, async () => {
        const token = `${me}:${++n}`;
        await acquire(name, token);
        // Renewed while held; a renewal that finds the row gone or someone else's means the lease
        // ran out (this process stalled past it): the work goes on, and what it writes to the store
        // is guarded by the state's generation (server-store), not by this lock alone.
        const renew = setInterval(() => {
          void db
            .updateTable('store_locks')
            .set({ expires_at: until() })
            .where('name', '=', name)
            .where('holder', '=', token)
            .execute()
            .catch(() => {});
        }, leaseMs / 3);
        renew.unref();
        try {
          return await fn();
        } finally {
          clearInterval(renew);
          // A release the database does not take (it is down) leaves a row that expires by itself.
          await db
            .deleteFrom('store_locks')
            .where('name', '=', name)
            .where('holder', '=', token)
            .execute()
            .catch(() => {});
        }
      }),
  };
}

/** The database's clock in milliseconds since the epoch, as SQL (one clock for every server process). */
function dbNowMs(db: Kysely<Database>): RawBuilder<number> {
  return isPostgres(db as unknown as Kysely<never>)
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
}
