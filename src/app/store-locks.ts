import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
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
    : // round, not truncate: the day fraction's last bits could make "now" a millisecond early.
      sql<number>`cast(round((julianday('now') - 2440587.5) * 86400000) as integer)`;
}

/**
 * A server process's claim to be alive, kept as a lease row `process:<id>` in `store_locks`
 * beside the named locks: what another process on the same database asks before it takes over
 * an idempotency claim of this one (docs/SERVER.md "Several server processes").
 */
export interface ProcessLease {
  /** This process's id: what its idempotency claims name (`pending:<id>`). */
  readonly id: string;
  /**
   * Whether process `id` may still be running. It is dead when its lease ran out (it stopped
   * renewing), when its row is gone (it stopped cleanly, or it never had one: a server from before
   * this lease), or, on this very host, when its pid no longer exists (kill -9, a crash: proven by
   * the kernel at once, without waiting for the lease).
   */
  alive(id: string): Promise<boolean>;
  /**
   * How long until process `id`'s lease runs out unless renewed, in ms on the database's clock
   * (0: none). What a client waiting on one of its claims is told to wait at least.
   */
  leaseLeftMs(id: string): Promise<number>;
  /** Stops renewing and deletes the row: claims this process still holds may be taken over at once. */
  close(): Promise<void>;
}

/** The kernel's boot id with the host name: a pid means something only on the same host and boot. */
function hostKey(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Not Linux: the host name alone.
  }
  return `${hostname()}/${boot}`;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Registers this process (a row it renews every third of the lease, as a lock's holder does) and
 * answers for others. The lease is the same as the locks' (15 s; CAIRN_STORE_LOCK_LEASE_MS): a
 * process on another host that dies holds its claims that long.
 */
export async function processLease(db: Kysely<Database>, o: { leaseMs?: number } = {}): Promise<ProcessLease> {
  const leaseMs = o.leaseMs ?? 15_000;
  const id = randomUUID();
  const host = hostKey();
  const name = (p: string) => `process:${p}`;
  const holder = JSON.stringify({ host, pid: process.pid });
  // An upsert, so that a row another process swept while this one stalled comes back.
  // On the database's clock, as alive() reads it: a host whose clock runs behind would otherwise
  // write leases the others read as already run out, and one ahead keep a dead process alive.
  const until = (): RawBuilder<number> => sql<number>`${dbNowMs(db)} + ${leaseMs}`;
  const renew = () =>
    db
      .insertInto('store_locks')
      .values({ name: name(id), holder, expires_at: until() })
      .onConflict((oc) => oc.column('name').doUpdateSet({ holder, expires_at: until() }))
      .execute();
  // Rows of processes whose lease ran out are dead weight: swept as each process starts.
  await db.deleteFrom('store_locks').where('name', 'like', 'process:%').where('expires_at', '<', dbNowMs(db)).execute();
  await renew();
  const timer = setInterval(() => void renew().catch(() => {}), leaseMs / 3);
  timer.unref();
  return {
    id,
    async alive(other) {
      if (other === id) return true;
      // Leases are on the database's clock, as the locks' are: a host whose clock runs behind
      // would otherwise keep a dead process alive, or one ahead kill a live one.
      const row = await db
        .selectFrom('store_locks')
        .select('holder')
        .where('name', '=', name(other))
        .where('expires_at', '>=', dbNowMs(db))
        .executeTakeFirst();
      if (!row) return false;
      const them = JSON.parse(row.holder) as { host?: string; pid?: number };
      return !(them.host === host && typeof them.pid === 'number' && !pidExists(them.pid));
    },
    async leaseLeftMs(other) {
      const row = await db
        .selectFrom('store_locks')
        .select(sql<number>`expires_at - ${dbNowMs(db)}`.as('left'))
        .where('name', '=', name(other))
        .executeTakeFirst();
      return Math.max(0, Number(row?.left ?? 0));
    },
    async close() {
      clearInterval(timer);
      await db
        .deleteFrom('store_locks')
        .where('name', '=', name(id))
        .execute()
        .catch(() => {});
    },
  };
}
