import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type Kysely } from 'kysely';
import { CairnError, errorCatalogue, isCairnError } from '../../core/errors.js';
import { isoUtc, type Clock } from '../../core/time.js';
import { makeWriteTx } from '../../meta/write-tx-factory.js';
import type { WriteTx } from '../../meta/write-tx.js';
import {
  type AuditHead,
  allCheckpoints,
  appendAtHead,
  insertCheckpoint,
  insertEvents,
  insertEventsAndNodes,
  insertNodes,
  latestCheckpoint,
  lockHead,
  readHead,
  readIdentityGeneration,
  writeHead,
} from '../../meta/repos/audit.js';
import type { AuditEventRow, Database } from '../../meta/schema.js';
import type { AuditOutcome } from '../actions.js';
import type { AuditContext, EventDraft } from '../event.js';
import { Frontier } from '../merkle/index.js';
import { addNoteSignature, formatVerifierKey, openCheckpoint, signCheckpoint, type NoteSigner } from '../note/index.js';
import { signKeyTransition } from './key-transition.js';
import { type AppendedEvent, planAppend } from './append-plan.js';
import { CheckpointGuard, IN_DB } from './checkpoint-guard.js';
import type { KeptCheckpoint, KnownCheckpoint } from './kept-checkpoint.js';
import { StoredTree } from './stored-tree.js';
import type { LogKeys } from './signer.js';

export type { AppendedEvent } from './append-plan.js';

export interface SignedCheckpoint {
  size: number;
  root: string;
  note: string;
}

export interface InclusionBundle {
  index: number;
  entry: string;
  leafHash: string;
  treeSize: number;
  proof: string[];
  checkpoint: string;
}

/** How an audited write's event ends, and the events appended right after it in its transaction. */
export type CommitOutcome = { outcome: AuditOutcome; reason?: string; also?: readonly EventDraft[] };
export type AuditedCommit = <R>(fn: (tx: WriteTx) => Promise<R>, outcome?: CommitOutcome) => Promise<R>;

type AppendItem = { draft: EventDraft; outcome: AuditOutcome; reason?: string; context?: AuditContext };

/** One audited write (or standalone events) waiting for a group commit. */
interface QueuedWrite {
  /** The write's metadata changes; null for events alone (record, recordMany). */
  fn: ((tx: WriteTx) => Promise<unknown>) | null;
  events: AppendItem[];
  /** Whether the log's inCommit hook runs for it (audited writes, as without group commit). */
  inCommit: boolean;
  /** Appended only while the identity generation is this one (else IDENTITY_MOVED, nothing written); null: always. */
  guard: number | null;
  /** Runs a function in the async context of the request that queued the write (its identity, its idempotency key). */
  inContext: <R>(f: () => R) => R;
  resolve(v: { out: unknown; events: AppendedEvent[] }): void;
  reject(err: unknown): void;
}

const noContext = <R>(f: () => R): R => f();

/** Most writes one group commit takes: a longer transaction holds the head lock longer for the ones queued behind. */
const GROUP_MAX = 64;

/** Errors that are the caller's own mistake, not an attempted state change. */
const NOT_AN_ATTEMPT = new Set(['USAGE', 'INVALID_NAME', 'INVALID_REF']);

/**
 * The audit log of one workspace. `audited()` is the only way to get a WriteTx: the state
 * change and its event commit in one transaction, and a failed or refused attempt still
 * leaves an event (written in a transaction of its own after the failed one rolled back).
 */
export class AuditLog {
  readonly #db: Kysely<Database>;
  readonly #dialect: 'sqlite' | 'postgres';
  readonly #ctx: () => AuditContext;
  readonly #inCommit: ((tx: WriteTx, event: AppendedEvent) => Promise<void>) | null;
  readonly #clock: Clock;
  #keys: LogKeys;
  readonly #tree: StoredTree;
  readonly #guard: CheckpointGuard;
  #appended = 0;
  #frontierCache: { size: number; lastLeaf: string | null; frontier: Frontier } | null = null;
  readonly #groupCommit: boolean;
  #queue: QueuedWrite[] = [];
  #flushing: Promise<void> | null = null;
  #opened: { note: string; keys: LogKeys; opened: ReturnType<typeof openCheckpoint> } | null = null;

  constructor(opts: {
    db: Kysely<Database>;
    dialect: 'sqlite' | 'postgres';
    context: () => AuditContext;
    clock: Clock;
    keys: LogKeys;
    kept?: KeptCheckpoint;
    /**
     * Runs inside every audited write's transaction, after its event is appended: a server ties
     * bookkeeping to the write (an idempotency key marked done) so both commit or neither does.
     */
    inCommit?: (tx: WriteTx, event: AppendedEvent) => Promise<void>;
    /**
     * Concurrent writes of this process share one transaction, each in a savepoint of its own
     * (a team server on PostgreSQL): every commit waits for the WAL to reach the disk while it
     * holds the head lock, so one transaction per write caps all writers at one disk flush each.
     */
    groupCommit?: boolean;
  }) {
    this.#db = opts.db;
    this.#dialect = opts.dialect;
    this.#ctx = opts.context;
    this.#inCommit = opts.inCommit ?? null;
    this.#groupCommit = opts.groupCommit === true;
    this.#clock = opts.clock;
    this.#keys = opts.keys;
    this.#tree = new StoredTree(opts.db);
    this.#guard = new CheckpointGuard({
      db: opts.db,
      keys: () => this.#keys,
      kept: opts.kept ?? null,
      tree: this.#tree,
    });
  }

  /** The key that signs this log's checkpoints now (it changes with rotateKey). */
  get keys(): LogKeys {
    return this.#keys;
  }

  /**
   * Whether concurrent appends of this process share transactions (`groupCommit`, on PostgreSQL):
   * then a caller gains nothing by batching its own events first.
   */
  get groupsCommits(): boolean {
    return this.#groupCommit;
  }

  /** How many events this process appended; the shell signs a checkpoint when it is > 0. */
  get appendedCount(): number {
    return this.#appended;
  }

  /**
   * Runs an operation that changes state. `body` may do I/O first and must call `commit`
   * exactly once with the metadata writes; the event (possibly amended through `draft`) is
   * appended inside that transaction, and right after it the `also` events, `ok` (a team
   * server's per-project record of an import: docs/SERVER.md "What a pull from the server brings").
   */
  async audited<T>(draft: EventDraft, body: (commit: AuditedCommit, draft: EventDraft) => Promise<T>): Promise<T> {
    let committed = false;
    // `outcome` lets a check that ran but found problems (validate, fsck) store its report in
    // the same transaction as a `failed` event.
    const commit = async <R>(fn: (tx: WriteTx) => Promise<R>, outcome?: CommitOutcome): Promise<R> => {
      if (committed) throw new CairnError('INTERNAL', 'an audited operation committed twice');
      const item = { draft, outcome: outcome?.outcome ?? 'ok', ...(outcome?.reason ? { reason: outcome.reason } : {}) };
      const items: AppendItem[] = [item, ...(outcome?.also ?? []).map((d) => ({ draft: d, outcome: 'ok' as const }))];
      const r = this.#groupCommit
        ? ((
            await this.#enqueue(
              fn,
              items.map((i) => ({ ...i, context: this.#ctx() })),
              true,
            )
          ).out as R)
        : await this.#db.transaction().execute(async (trx) => {
            const tx = makeWriteTx(trx);
            // Take the log's head first: it serializes all audited writers (PostgreSQL row lock;
            // SQLite already holds the write lock), so version numbers and indexes never race.
            const head = await lockHead(tx, this.#dialect);
            const out = await fn(tx);
            const [ev] = await this.#append(tx, items, head);
            if (this.#inCommit) await this.#inCommit(tx, ev!);
            return out;
          });
      committed = true;
      this.#appended += items.length;
      return r;
    };
    try {
      return await body(commit, draft);
    } catch (err) {
      if (!committed && !(isCairnError(err) && NOT_AN_ATTEMPT.has(err.code))) {
        const outcome: AuditOutcome = isCairnError(err) && err.code === 'PERMISSION_DENIED' ? 'denied' : 'failed';
        await this.record(draft, outcome, reasonOf(err)).catch(() => {});
      }
      throw err;
    }
  }

  /** Appends a standalone event (an outcome with no other state change). */
  async record(draft: EventDraft, outcome: AuditOutcome, reason?: string): Promise<AppendedEvent> {
    if (this.#groupCommit) {
      const { events } = await this.#enqueue(
        null,
        [{ draft, outcome, ...(reason ? { reason } : {}), context: this.#ctx() }],
        false,
      );
      this.#appended++;
      return events[0]!;
    }
    const [ev] = await this.#db
      .transaction()
      .execute(async (trx) => this.#append(makeWriteTx(trx), [{ draft, outcome, ...(reason ? { reason } : {}) }]));
    this.#appended++;
    return ev!;
  }

  /**
   * Appends many events in one transaction (a server's request events, bulk import, benchmarks).
   * With `guard`, only if the identity generation still is `guard` when they are appended (read
   * in the appending statement or transaction): else nothing is written and it throws
   * IDENTITY_MOVED, for the server to check the requests' credentials again and answer anew.
   */
  async recordMany(
    items: Array<{ draft: EventDraft; outcome: AuditOutcome; reason?: string; context?: AuditContext }>,
    opts: { guard?: number } = {},
  ): Promise<AppendedEvent[]> {
    const guard = opts.guard ?? null;
    const out = this.#groupCommit
      ? (
          await this.#enqueue(
            null,
            items.map((i) => ({ ...i, context: i.context ?? this.#ctx() })),
            false,
            guard,
          )
        ).events
      : await this.#db.transaction().execute(async (trx) => {
          const tx = makeWriteTx(trx);
          // The head first (SQLite: the write lock), then the generation under it.
          const head = await lockHead(tx, this.#dialect);
          if (guard !== null && (await readIdentityGeneration(tx.db)) !== guard) throw identityMoved();
          return this.#append(tx, items, head);
        });
    this.#appended += out.length;
    return out;
  }

  /** Queues a write for the next group commit; resolves once the transaction holding it committed. */
  #enqueue(
    fn: QueuedWrite['fn'],
    events: AppendItem[],
    inCommit: boolean,
    guard: number | null = null,
  ): Promise<{ out: unknown; events: AppendedEvent[] }> {
    // Captured now: the group commit runs each write in the context of the request that made it.
    // Events alone run no code of the request's (a snapshot per read was 1 % of a server's CPU).
    const inContext = fn || inCommit ? AsyncLocalStorage.snapshot() : noContext;
    return new Promise((resolve, reject) => {
      this.#queue.push({ fn, events, inCommit, guard, inContext, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#flushQueue();
    });
  }

  async #flushQueue(): Promise<void> {
    try {
      // The writes arriving in this turn of the event loop join the first transaction.
      await new Promise((r) => setImmediate(r));
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, GROUP_MAX);
        try {
          const left =
            this.#dialect === 'postgres' && group.every((w) => w.fn === null) ? await this.#appendAtHead(group) : group;
          if (left.length > 0) await this.#commitGroup(left);
        } catch (err) {
          // The transaction did not commit (the database went away, the commit failed): none of
          // it happened. Writes already answered are not affected (a settled promise stays settled).
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      // Whatever happened, the next write starts a new flush rather than waiting on this one.
      this.#flushing = null;
    }
  }

  /**
   * One transaction for the queued writes: the head locked once, then each write in a savepoint
   * of its own, in queue order, with its event appended right after its changes (so a later
   * write sees the earlier ones' events, as it would after their commits). A write that fails is
   * rolled back to its savepoint alone and told at once; the others are told after the commit.
   */
  async #commitGroup(group: QueuedWrite[]): Promise<void> {
    const done: Array<() => void> = [];
    let last: { size: number; lastLeaf: string | null; frontier: Frontier } | null = null;
    await this.#db.transaction().execute(async (trx) => {
      const tx = makeWriteTx(trx);
      const head = await lockHead(tx, this.#dialect);
      // Read under the head's lock, after every guarded request arrived: a change committed before then shows.
      const generation = group.some((w) => w.guard !== null) ? await readIdentityGeneration(tx.db) : null;
      let frontier = this.#frontierAt(head);
      let lastLeaf = head.lastLeaf;
      // One savepoint name, set again after each write that took: a failed write rolls back to
      // the state after the last one that took, and the same savepoint serves the next write.
      await sql`savepoint cairn_write`.execute(trx);
      for (const [i, w] of group.entries()) {
        if (w.guard !== null && w.guard !== generation) {
          w.reject(identityMoved());
          continue;
        }
        const grown = frontier.clone();
        try {
          const out = w.fn ? await w.inContext(() => w.fn!(tx)) : undefined;
          const plan = planAppend(grown, lastLeaf, this.#ctx(), this.#clock, w.events);
          await insertEventsAndNodes(tx, plan.rows, plan.nodes);
          if (w.inCommit && this.#inCommit) await w.inContext(() => this.#inCommit!(tx, plan.out[0]!));
          // Both in one round trip (no parameters: one simple query); none needed after the last.
          if (i < group.length - 1) await sql`release savepoint cairn_write; savepoint cairn_write`.execute(trx);
          frontier = grown;
          lastLeaf = plan.lastLeaf;
          done.push(() => w.resolve({ out, events: plan.out }));
        } catch (err) {
          // If even this fails the transaction is lost, and every write of the group with it.
          await sql`rollback to savepoint cairn_write`.execute(trx);
          w.reject(err);
        }
      }
      if (frontier.size !== head.size) {
        await writeHead(tx, { size: frontier.size, lastLeaf, frontier: JSON.stringify(frontier.toJSON()) });
        last = { size: frontier.size, lastLeaf, frontier };
      }
    });
    if (last) this.#frontierCache = last;
    for (const d of done) d();
  }

  /**
   * Events alone (the server's request events): appended in one statement on the head this
   * process left (appendAtHead). Answers the writes it could not take (nothing of them was
   * written): all of them when another writer moved the head or this process has not appended yet.
   */
  async #appendAtHead(queued: QueuedWrite[]): Promise<QueuedWrite[]> {
    const cached = this.#frontierCache;
    if (!cached) return queued;
    const group = staleLeftOut(queued);
    const guard = group.find((w) => w.guard !== null)?.guard ?? null;
    let frontier = cached.frontier.clone();
    let lastLeaf = cached.lastLeaf;
    const rows: AuditEventRow[] = [];
    const nodes: Array<{ level: number; idx: number; hash: string }> = [];
    const taken: Array<{ w: QueuedWrite; events: AppendedEvent[] }> = [];
    for (const w of group) {
      const grown = frontier.clone();
      let plan;
      try {
        plan = planAppend(grown, lastLeaf, this.#ctx(), this.#clock, w.events);
      } catch (err) {
        // An event the log refuses to build (a secret in it): that request's answer, not the others'.
        w.reject(err);
        continue;
      }
      rows.push(...plan.rows);
      nodes.push(...plan.nodes);
      frontier = grown;
      lastLeaf = plan.lastLeaf;
      taken.push({ w, events: plan.out });
    }
    if (taken.length === 0) return [];
    let r: { appended: boolean; generation: number };
    try {
      r = await appendAtHead(
        this.#db,
        { size: cached.size, lastLeaf: cached.lastLeaf },
        { size: frontier.size, lastLeaf, frontier: JSON.stringify(frontier.toJSON()) },
        rows,
        nodes,
        guard,
      );
    } catch (err) {
      for (const t of taken) t.w.reject(err);
      return [];
    }
    if (!r.appended) return guardedBy(taken, r.generation);
    this.#frontierCache = { size: frontier.size, lastLeaf, frontier };
    for (const t of taken) t.w.resolve({ out: undefined, events: t.events });
    return [];
  }

  /** The frontier the head stores, from this process's last append when nobody appended since. */
  #frontierAt(head: { size: number; lastLeaf: string | null; frontier: string }): Frontier {
    const cached = this.#frontierCache;
    const frontier =
      cached && cached.size === head.size && cached.lastLeaf === head.lastLeaf
        ? cached.frontier.clone()
        : Frontier.fromJSON(JSON.parse(head.frontier));
    if (frontier.size !== head.size)
      throw new CairnError('AUDIT_INCONSISTENT', 'the audit head is damaged (frontier size differs from log size)');
    return frontier;
  }

  /** Appends `items` in `tx`; `locked` is the head when the caller already locked it. */
  async #append(tx: WriteTx, items: AppendItem[], locked?: AuditHead): Promise<AppendedEvent[]> {
    const head = locked ?? (await lockHead(tx, this.#dialect));
    // Reuse the frontier this process left behind when nobody else appended since (same size
    // and last leaf); parsing it from JSON on every append was a fifth of the cost.
    const frontier = this.#frontierAt(head);
    const { rows, nodes, out, lastLeaf: prev } = planAppend(frontier, head.lastLeaf, this.#ctx(), this.#clock, items);
    await insertEvents(tx, rows);
    if (nodes.length) await insertNodes(tx, nodes);
    await writeHead(tx, { size: frontier.size, lastLeaf: prev, frontier: JSON.stringify(frontier.toJSON()) });
    // Only trusted once the transaction commits; a rollback leaves a stale cache that the
    // size/last-leaf check above rejects.
    this.#frontierCache = { size: frontier.size, lastLeaf: prev, frontier };
    return out;
  }

  async size(): Promise<number> {
    return (await readHead(this.#db)).size;
  }

  async rootAt(size: number): Promise<Buffer> {
    return this.#tree.rootAt(size);
  }

  /**
   * Signs a checkpoint for the current size, unless one exists. Refuses (AUDIT_INCONSISTENT)
   * unless the stored tree is a consistent extension of every checkpoint known anywhere: the
   * database's latest, the one kept outside it (`kept`), and any a remote holds (`witness`).
   * The log must never sign two views that contradict each other, and someone who can write
   * only the database must not be able to make it sign a rewritten history.
   */
  async checkpoint(opts: { cosigner?: NoteSigner } = {}): Promise<SignedCheckpoint | null> {
    // The known checkpoints first, the head after: the log only grows, so a checkpoint read
    // before the head never covers more than it (another process may sign in between).
    const known = await this.#guard.known();
    const head = await readHead(this.#db);
    const root = Frontier.fromJSON(JSON.parse(head.frontier)).root();
    await this.#guard.assertExtends(known, head.size, root);
    if (head.size === 0) return null;
    const inDb = known.find((k) => k.where === IN_DB);
    if (inDb && inDb.size === head.size) {
      // Nothing new to sign; a workspace from before the kept copy existed gets one now.
      await this.#guard.keep(inDb.note, inDb.size);
      return null;
    }
    const signed = signCheckpoint({ origin: this.keys.origin, size: head.size, rootHash: root }, this.keys.signer());
    const note = opts.cosigner ? addNoteSignature(signed, opts.cosigner) : signed;
    const rootHex = root.toString('hex');
    await this.#db.transaction().execute(async (trx) => {
      await insertCheckpoint(makeWriteTx(trx), {
        size: head.size,
        root: rootHex,
        note,
        created_at: isoUtc(this.#clock.now()),
      });
    });
    // After the row commits: a crash in between leaves the kept copy one checkpoint behind,
    // which is still a checkpoint of this log.
    await this.#guard.keep(note, head.size);
    return { size: head.size, root: rootHex, note };
  }

  /**
   * Hands the log over to `next` (docs/AUDIT.md §8, key custody): seals what is there with the
   * current key, appends a `keys.rotate` event carrying the transition (signed by the current
   * key, countersigned by `next`), then signs the checkpoint that covers it with `next` and,
   * so that a reader who has not followed yet still recognises it, the retiring key too. From
   * then on this process signs with `next`. The caller puts `next` in place of the old key
   * (files, token) only after this returns: until then the old key is still the custodian's.
   */
  async rotateKey(
    next: LogKeys,
    params: Record<string, unknown> = {},
  ): Promise<{ index: number; from: string; to: string; statement: string; checkpoint: SignedCheckpoint }> {
    if (next.origin !== this.#keys.origin)
      throw new CairnError('INTERNAL', `the new key is for log ${next.origin}, not ${this.#keys.origin}`);
    const oldSigner = this.#keys.signer();
    const newSigner = next.signer();
    const from = formatVerifierKey(this.#keys.origin, this.#keys.rawPublicKey);
    const to = formatVerifierKey(next.origin, next.rawPublicKey);
    if (from === to) throw new CairnError('USAGE', 'the new audit key is the current one');
    await this.checkpoint();
    const statement = signKeyTransition(
      { origin: this.#keys.origin, purpose: 'audit', from, to, time: isoUtc(this.#clock.now()) },
      oldSigner,
      newSigner,
    );
    const ev = await this.record(
      {
        action: 'keys.rotate',
        target: { type: 'key', name: 'audit' },
        params: { ...params, purpose: 'audit', from, to, statement },
      },
      'ok',
    );
    const retiring = this.#keys;
    this.#keys = { ...next, retired: [retiring.verifier, ...(retiring.retired ?? []), ...(next.retired ?? [])] };
    const cp = await this.checkpoint({ cosigner: oldSigner });
    const checkpoint = cp ?? (await this.latestCheckpoint());
    if (!checkpoint) throw new CairnError('INTERNAL', 'no checkpoint after a key rotation');
    return { index: ev.index, from, to, statement, checkpoint };
  }

  /** Signs with `keys` from now on: the key a rotation recorded earlier was put in place (app/keys.ts). */
  useKeys(keys: LogKeys): void {
    if (keys.origin !== this.#keys.origin)
      throw new CairnError('INTERNAL', `the key is for log ${keys.origin}, not ${this.#keys.origin}`);
    this.#keys = keys;
  }

  /**
   * The audit-key transitions the stored log names, oldest first, as they claim to be: the
   * verifier (LogVerifier) is what checks their signatures and their order.
   */
  async keyRotations(): Promise<Array<{ index: number; from: string; to: string; statement: string }>> {
    return (await this.#keyRotateEvents('audit')).flatMap((e) =>
      typeof e.statement === 'string' ? [{ index: e.index, from: e.from, to: e.to, statement: e.statement }] : [],
    );
  }

  /**
   * The release-key transitions the stored log names (`keys.rotate` with purpose `release`),
   * oldest first, as they claim to be: release verification checks their signatures.
   */
  async releaseKeyTransitions(): Promise<Array<{ index: number; from: string; to: string; envelope: unknown }>> {
    return (await this.#keyRotateEvents('release')).flatMap((e) =>
      typeof e.statement === 'object' && e.statement !== null
        ? [{ index: e.index, from: e.from, to: e.to, envelope: e.statement }]
        : [],
    );
  }

  /** The successful `keys.rotate` events for one key, oldest first; an entry that does not parse is skipped. */
  async #keyRotateEvents(
    purpose: 'audit' | 'release',
  ): Promise<Array<{ index: number; from: string; to: string; statement: unknown }>> {
    const rows = await this.#db
      .selectFrom('audit_events')
      .select(['idx', 'entry'])
      .where('action', '=', 'keys.rotate')
      .orderBy('idx')
      .execute();
    const out: Array<{ index: number; from: string; to: string; statement: unknown }> = [];
    for (const r of rows) {
      let ev: { outcome?: unknown; params?: { purpose?: unknown; from?: unknown; to?: unknown; statement?: unknown } };
      try {
        ev = JSON.parse(r.entry) as typeof ev;
      } catch {
        continue;
      }
      const p = ev.params;
      if (ev.outcome === 'ok' && p?.purpose === purpose && typeof p.from === 'string' && typeof p.to === 'string')
        out.push({ index: Number(r.idx), from: p.from, to: p.to, statement: p.statement });
    }
    return out;
  }

  /**
   * Every checkpoint this log is known to have signed, from outside the entries: the database's
   * latest row, the copy kept outside the database and the witnesses this process was given.
   * Each must carry this log's signature: a note that does not is refused, not ignored.
   */
  async knownCheckpoints(): Promise<KnownCheckpoint[]> {
    return this.#guard.known();
  }

  /** The note kept outside the database, or null (none yet, or no such store configured). */
  keptNote(): { note: string; where: string } | null {
    return this.#guard.keptNote();
  }

  /**
   * Remembers `note`, a checkpoint of this log kept elsewhere (e.g. the last one pushed to a
   * remote), so that no checkpoint this process signs contradicts it, then checks that the
   * stored log extends it: AUDIT_INCONSISTENT when it does not. A note without this log's
   * signature is refused and not remembered.
   */
  async witness(note: string, where: string): Promise<KnownCheckpoint> {
    const k = this.#guard.open(note, where);
    this.#guard.witnesses.push(k);
    const head = await readHead(this.#db);
    await this.#guard.assertExtends([k], head.size, Frontier.fromJSON(JSON.parse(head.frontier)).root());
    return k;
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    const c = await latestCheckpoint(this.#db);
    return c ? { size: Number(c.size), root: c.root, note: c.note } : null;
  }

  async checkpoints(): Promise<SignedCheckpoint[]> {
    return (await allCheckpoints(this.#db)).map((c) => ({ size: Number(c.size), root: c.root, note: c.note }));
  }

  /**
   * Inclusion proof of entry `index` in the latest signed checkpoint that covers it. `latest`:
   * the latest checkpoint, when the caller has just read it (one statement fewer).
   */
  async prove(index: number, entry: string, leaf: string, latest?: SignedCheckpoint | null): Promise<InclusionBundle> {
    let cp = latest !== undefined ? latest : await this.latestCheckpoint();
    if (!cp || cp.size <= index) cp = await this.checkpoint();
    if (!cp || cp.size <= index) throw new CairnError('NOT_FOUND', `no checkpoint covers entry ${index}`);
    const size = cp.size;
    const proof = await this.#tree.inclusion(index, size);
    return {
      index,
      entry,
      leafHash: leaf,
      treeSize: size,
      proof: proof.map((p) => p.toString('hex')),
      checkpoint: cp.note,
    };
  }

  /**
   * The audit-key transitions a checkpoint of `size` covers, each with its entry's exact bytes and
   * an inclusion proof in that tree (base64): what a witness needs to follow the log's key.
   */
  async keyTransitionsAt(
    size: number,
  ): Promise<Array<{ index: number; statement: string; entry: string; proof: string[] }>> {
    const out = [];
    for (const r of (await this.keyRotations()).filter((x) => x.index < size)) {
      const row = await this.#db
        .selectFrom('audit_events')
        .select('entry')
        .where('idx', '=', r.index)
        .executeTakeFirstOrThrow();
      const proof = await this.#tree.inclusion(r.index, size);
      out.push({
        index: r.index,
        statement: r.statement,
        entry: row.entry,
        proof: proof.map((p) => p.toString('base64')),
      });
    }
    return out;
  }

  async consistency(m: number, n: number): Promise<string[]> {
    return this.#tree.consistency(m, n);
  }

  /**
   * Verifies a checkpoint note against this log's own key. The last note verified is kept with
   * the key that verified it (a pure function of both): checks that prove entries against the
   * latest checkpoint, once per audited write that reads the log, verify its signature once.
   */
  openOwnCheckpoint(note: string): ReturnType<typeof openCheckpoint> {
    const kept = this.#opened;
    if (kept && kept.note === note && kept.keys === this.#keys) return kept.opened;
    const opened = openCheckpoint(note, [this.#keys.verifier]);
    this.#opened = { note, keys: this.#keys, opened };
    return opened;
  }
}

/**
 * The reason stored with a failed event: the stable error code and its generic summary. The
 * full message stays on the user's terminal: messages name files and directories, and file
 * names can identify people, which an event must not (only the actor's account id may).
 */
export function reasonOf(err: unknown): string {
  const code = isCairnError(err) ? err.code : 'INTERNAL';
  return `${code}: ${errorCatalogue[code].summary}`;
}

function identityMoved(): CairnError {
  return new CairnError('IDENTITY_MOVED', 'tokens or grants changed since this request was checked');
}

/**
 * Guarded writes of a group whose guard is older than another's are refused at once (identity
 * generations only grow, and a refusal is always safe: the request is checked again); the rest
 * share one guard.
 */
function staleLeftOut(group: QueuedWrite[]): QueuedWrite[] {
  const newest = Math.max(-1, ...group.map((w) => w.guard ?? -1));
  return group.filter((w) => {
    if (w.guard === null || w.guard === newest) return true;
    w.reject(identityMoved());
    return false;
  });
}

/**
 * The writes an append at the head did not take, to append under the lock: a guard other than
 * the generation the statement read is refused; one equal to it was checked after the request
 * arrived, which is all a guard asks, and needs no second reading.
 */
function guardedBy(taken: ReadonlyArray<{ w: QueuedWrite }>, generation: number): QueuedWrite[] {
  const left: QueuedWrite[] = [];
  for (const { w } of taken) {
    if (w.guard !== null && w.guard !== generation) w.reject(identityMoved());
    else left.push({ ...w, guard: null });
  }
  return left;
}
