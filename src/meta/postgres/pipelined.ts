import { createRequire } from 'node:module';
import pg from 'pg';
import {
  PostgresDialect,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { preparable, PREPARED_PER_CONNECTION } from './prepared.js';

const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as unknown;

/**
 * Single read statements outside a transaction, sent on a few long-lived connections in
 * PostgreSQL's pipeline mode instead of one pool checkout per statement.
 *
 * Why: a team server's read is a handful of one-statement round trips (the identity generation,
 * the listing, …), and on loopback each statement cost one `writev` into the kernel's TCP path
 * and one wake-up of a backend: a fifth of the server's CPU per read (profile, docs/SERVER.md
 * "Throughput on PostgreSQL"). Here the statements issued during one turn of the event loop are
 * written together (the socket is corked until the turn ends) and answered in order, so the
 * requests of one turn share a write and a backend wake-up.
 *
 * What is not changed: each statement still runs on its own (its own Sync: an error fails that
 * statement alone, its snapshot is taken when the backend reaches it, after it was issued), so a
 * statement issued after a commit was acknowledged sees that commit, as on a pool connection.
 * Transactions, writes and anything that leaves state on a session (SET, LISTEN, session
 * advisory locks, `db.connection()` after its first such statement) take a pool connection of
 * their own, as before.
 */
export class PipelinedReads {
  readonly #config: pg.ClientConfig;
  readonly #prepare: boolean;
  readonly #slots: Array<Slot | null>;
  #ended = false;

  constructor(config: pg.ClientConfig, opts: { connections: number; prepare: boolean }) {
    this.#config = config;
    this.#prepare = opts.prepare;
    this.#slots = Array.from({ length: opts.connections }, () => null);
  }

  /**
   * Runs one statement on a pipelined connection; undefined (nothing sent) when every one of them
   * is held up by a statement running longer than STUCK_MS (an audit export, a lock wait): the
   * caller then takes a pool connection, so one long read delays the others by that much at most.
   */
  async query(text: string, values: readonly unknown[]): Promise<pg.QueryResult | undefined> {
    if (this.#ended) throw new Error('Client was closed and is not queryable');
    const slot = await this.#pick();
    if (!slot) return undefined;
    // An idle pipelined connection does not keep the process alive (a CLI command ends when its
    // work does); one with a statement outstanding does, as a pool connection would.
    if (slot.sent.length === 0) slot.stream()?.ref();
    slot.sent.push(performance.now());
    slot.cork();
    try {
      // A named statement is parsed once per connection (the pool's connections do the same).
      let name: string | undefined;
      if (this.#prepare && preparable(text, values)) {
        name = slot.names.get(text);
        if (!name && slot.names.size < PREPARED_PER_CONNECTION) {
          name = `cairn_p${slot.names.size}`;
          slot.names.set(text, name);
        }
      }
      if (!name) return await slot.client.query({ text, values: [...values] });
      return await new Promise<pg.QueryResult>((resolve, reject) => {
        const q = describedOnce(slot.described, { name, text, values: [...values] }, (err, r) =>
          err ? reject(err) : resolve(r),
        );
        void slot.client.query(q);
      });
    } finally {
      // Answers come back in the order sent: the oldest statement is the one answered.
      slot.sent.shift();
      if (slot.sent.length === 0) slot.stream()?.unref();
    }
  }

  /** The connection with the fewest statements outstanding among those not held up (null: none). */
  async #pick(): Promise<Slot | null> {
    const now = performance.now();
    let best = -1;
    for (let i = 0; i < this.#slots.length; i++) {
      const s = this.#slots[i];
      if (!s || s.dead) {
        best = i;
        break;
      }
      if (s.sent.length > 0 && now - s.sent[0]! > STUCK_MS) continue;
      if (best < 0 || s.sent.length < this.#slots[best]!.sent.length) best = i;
    }
    if (best < 0) return null;
    const current = this.#slots[best];
    if (current && !current.dead) return current.ready;
    const slot = new Slot(new pg.Client({ ...this.#config, pipeline: true } as pg.ClientConfig));
    this.#slots[best] = slot;
    return slot.ready.catch((err: unknown) => {
      // A failed connect is not kept: the next statement tries a new connection.
      if (this.#slots[best] === slot) this.#slots[best] = null;
      throw err;
    });
  }

  async end(): Promise<void> {
    this.#ended = true;
    const slots = this.#slots.splice(0);
    await Promise.all(
      slots.map(async (s) => {
        if (!s) return;
        await s.ready.catch(() => {});
        await s.client.end().catch(() => {});
      }),
    );
  }
}

/** The named statements one connection has described, by name. */
export type DescribedStatements = Map<string, Described>;

/** What a named statement's RowDescription told, kept to read its later answers' rows with. */
interface Described {
  fields: unknown[];
  parsers: unknown[];
  empty: Record<string, null>;
}

/** The parts of pg's Query and Result (pg 8) that describedOnce reads and sets. */
interface QueryInternals {
  name?: string;
  portal: string;
  values: unknown[];
  binary?: boolean;
  rows?: number;
  _accumulateRows: boolean;
  _result: { fields: unknown[]; _parsers: unknown[]; _prebuiltEmptyResultObject: Record<string, null> };
  hasBeenParsed(connection: unknown): boolean;
  handleError(err: unknown, connection: unknown): void;
  _getRows(connection: PgConnection, rows?: number): void;
}

interface PgConnection {
  bind(o: object): void;
  close(o: object): void;
  sync(): void;
}

/**
 * A named statement's later executions without a Describe: the same few listings run thousands
 * of times a second on each connection, and each Describe made PostgreSQL send the statement's
 * RowDescription again, which pg parsed into new field objects and new row parsers (about 5 % of
 * a team server's CPU per read, and a tenth of its allocations). The first execution on a
 * connection describes it as before and its description is kept; a later one binds and executes
 * and reads its rows with the kept description. A statement's result shape cannot change while
 * it stays prepared (PostgreSQL refuses to execute it: "cached plan must not change result
 * type"), and a new connection starts with nothing kept.
 */
export function describedOnce(
  kept: DescribedStatements,
  config: { name: string; text: string; values: unknown[] },
  callback: (err: Error | null, r: pg.QueryResult) => void,
): pg.Query {
  const q = new pg.Query({ ...config, callback } as pg.QueryConfig) as pg.Query & QueryInternals;
  const self = q as unknown as QueryInternals & {
    prepare(c: PgConnection): void;
    handleRowDescription(msg: { fields: unknown[] }): void;
  };
  const prepare = self.prepare.bind(q);
  const described = self.handleRowDescription.bind(q);
  self.handleRowDescription = (msg) => {
    described(msg);
    const r = self._result;
    kept.set(config.name, { fields: r.fields, parsers: r._parsers, empty: r._prebuiltEmptyResultObject });
  };
  self.prepare = (connection) => {
    const d = kept.get(config.name);
    if (!d || !self.hasBeenParsed(connection)) return prepare(connection);
    try {
      connection.bind({
        portal: self.portal,
        statement: config.name,
        values: self.values,
        binary: self.binary,
        valueMapper: prepareValue,
      });
    } catch (err) {
      // As pg's own prepare: the statement is closed and the error is this query's.
      connection.close({ type: 'S', name: config.name });
      connection.sync();
      self.handleError(err, connection);
      return;
    }
    self._result.fields = d.fields;
    self._result._parsers = d.parsers;
    self._result._prebuiltEmptyResultObject = d.empty;
    self._accumulateRows = true;
    self._getRows(connection, self.rows);
  };
  return q;
}

/** pg's own mapping of a JavaScript value to a statement parameter (what its prepare uses). */
const prepareValue = (pgUtils as { prepareValue: (v: unknown) => unknown }).prepareValue;

/** A pipelined connection whose oldest statement has run this long takes no more until it answers. */
const STUCK_MS = 50;

class Slot {
  readonly client: pg.Client;
  readonly ready: Promise<Slot>;
  readonly names = new Map<string, string>();
  /** The answer shape of each named statement this connection has described once (describedOnce). */
  readonly described: DescribedStatements = new Map();
  /** When each outstanding statement was sent, oldest first. */
  readonly sent: number[] = [];
  dead = false;
  #corked = false;

  constructor(client: pg.Client) {
    this.client = client;
    // A connection the database closed (restart, terminate): its statements fail (pg answers
    // every queued one with the error) and the next statement opens a new connection.
    client.on('error', () => (this.dead = true));
    client.on('end', () => (this.dead = true));
    this.ready = client.connect().then(() => this);
  }

  /** The connection's socket, or null for a stream that cannot be corked or unreferenced. */
  stream(): Corkable | null {
    const s = (this.client as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
    return s && typeof s.cork === 'function' && typeof s.ref === 'function' ? (s as Corkable) : null;
  }

  /** Holds this turn's statements in the socket's buffer and writes them together once the turn ends. */
  cork(): void {
    if (this.#corked) return;
    const stream = this.stream();
    if (!stream) return;
    stream.cork();
    this.#corked = true;
    setImmediate(() => {
      this.#corked = false;
      stream.uncork();
    });
  }
}

interface Corkable {
  cork(): void;
  uncork(): void;
  ref(): void;
  unref(): void;
}

// Statements that may share a pipelined connection: a read with no effect on its session.
const READ_ONLY = /^\s*(select|with)\b/i;
const WRITES_OR_SESSION =
  /\b(insert|update|delete|merge|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share|pg_advisory_lock|pg_advisory_lock_shared|pg_try_advisory_lock|pg_advisory_unlock|set_config|nextval|setval|into)\b/i;

/** Whether `sql` may run on a pipelined connection (pure function; see PipelinedReads). */
export function pipelineable(sql: string): boolean {
  return READ_ONLY.test(sql) && !WRITES_OR_SESSION.test(sql);
}

// The answer for each statement text seen (the code sends a few dozen, thousands of times a second;
// long texts, bulk inserts of many rows, are not kept).
const seen = new Map<string, boolean>();

export function pipelineableText(sql: string): boolean {
  let yes = seen.get(sql);
  if (yes === undefined) {
    yes = pipelineable(sql);
    if (sql.length <= 4096 && seen.size < PREPARED_PER_CONNECTION) seen.set(sql, yes);
  }
  return yes;
}

/**
 * Kysely's PostgreSQL dialect with single read statements pipelined: a connection Kysely
 * acquires is bound to a pool connection only when it needs one (a transaction, a write, a
 * session statement), and from then on keeps it, so everything after runs where it ran before.
 */
export class PipelinedPostgresDialect extends PostgresDialect {
  readonly #reads: PipelinedReads;

  constructor(config: ConstructorParameters<typeof PostgresDialect>[0], reads: PipelinedReads) {
    super(config);
    this.#reads = reads;
  }

  override createDriver(): Driver {
    return new PipelinedDriver(super.createDriver(), this.#reads);
  }
}

class PipelinedDriver implements Driver {
  readonly #inner: Driver;
  readonly #reads: PipelinedReads;

  constructor(inner: Driver, reads: PipelinedReads) {
    this.#inner = inner;
    this.#reads = reads;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new LazyConnection(this.#inner, this.#reads);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(await (connection as LazyConnection).bind(), settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(await (connection as LazyConnection).bind());
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(await (connection as LazyConnection).bind());
  }

  async savepoint(...[connection, ...rest]: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    return this.#inner.savepoint!(await (connection as LazyConnection).bind(), ...rest);
  }

  async rollbackToSavepoint(
    ...[connection, ...rest]: Parameters<NonNullable<Driver['rollbackToSavepoint']>>
  ): Promise<void> {
    return this.#inner.rollbackToSavepoint!(await (connection as LazyConnection).bind(), ...rest);
  }

  async releaseSavepoint(...[connection, ...rest]: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    return this.#inner.releaseSavepoint!(await (connection as LazyConnection).bind(), ...rest);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await (connection as LazyConnection).release(this.#inner);
  }

  async destroy(): Promise<void> {
    await this.#reads.end();
    await this.#inner.destroy();
  }
}

class LazyConnection implements DatabaseConnection {
  readonly #inner: Driver;
  readonly #reads: PipelinedReads;
  #bound: Promise<DatabaseConnection> | null = null;

  constructor(inner: Driver, reads: PipelinedReads) {
    this.#inner = inner;
    this.#reads = reads;
  }

  /** The pool connection this Kysely connection keeps from now on (checked out once). */
  bind(): Promise<DatabaseConnection> {
    return (this.#bound ??= this.#inner.acquireConnection());
  }

  /** Gives back the pool connection, if one was taken (once its checkout settled). */
  async release(inner: Driver): Promise<void> {
    const b = this.#bound;
    this.#bound = null;
    const c = b ? await b.catch(() => null) : null;
    if (c) await inner.releaseConnection(c);
  }

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#bound === null && pipelineableText(q.sql)) {
      const r = await this.#reads.query(q.sql, q.parameters);
      if (r) return { rows: (r.rows ?? []) as R[] };
    }
    return (await this.bind()).executeQuery<R>(q);
  }

  async *streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    yield* (await this.bind()).streamQuery<R>(q, chunkSize);
  }
}
