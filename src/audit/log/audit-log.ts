import type { Kysely } from 'kysely';
import { CairnError, errorCatalogue, isCairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc, type Clock } from '../../core/time.js';
import { makeWriteTx } from '../../meta/write-tx-factory.js';
import type { WriteTx } from '../../meta/write-tx.js';
import {
  allCheckpoints,
  getNodes,
  insertCheckpoint,
  insertEvents,
  insertNodes,
  latestCheckpoint,
  lockHead,
  readHead,
  writeHead,
} from '../../meta/repos/audit.js';
import type { AuditEventRow, Database } from '../../meta/schema.js';
import type { AuditOutcome } from '../actions.js';
import { type AuditContext, type AuditEvent, buildEvent, type EventDraft, encodeEvent } from '../event.js';
import { Frontier, consistencyProof, inclusionProof, leafHash, rangeHash } from '../merkle/index.js';
import { openCheckpoint, signCheckpoint } from '../note/index.js';
import type { LogKeys } from './signer.js';

export interface AppendedEvent {
  index: number;
  leafHash: string;
  event: AuditEvent;
}

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
  readonly #clock: Clock;
  readonly keys: LogKeys;
  #appended = 0;
  #frontierCache: { size: number; lastLeaf: string | null; frontier: Frontier } | null = null;

  constructor(opts: { db: Kysely<Database>; dialect: 'sqlite' | 'postgres'; context: () => AuditContext; clock: Clock; keys: LogKeys }) {
    this.#db = opts.db;
    this.#dialect = opts.dialect;
    this.#ctx = opts.context;
    this.#clock = opts.clock;
    this.keys = opts.keys;
  }

  /** How many events this process appended; the shell signs a checkpoint when it is > 0. */
  get appendedCount(): number {
    return this.#appended;
  }

  /**
   * Runs an operation that changes state. `body` may do I/O first and must call `commit`
   * exactly once with the metadata writes; the event (possibly amended through `draft`) is
   * appended inside that transaction.
   */
  async audited<T>(
    draft: EventDraft,
    body: (commit: <R>(fn: (tx: WriteTx) => Promise<R>, outcome?: { outcome: AuditOutcome; reason?: string }) => Promise<R>, draft: EventDraft) => Promise<T>,
  ): Promise<T> {
    let committed = false;
    // `outcome` lets a check that ran but found problems (validate, fsck) store its report in
    // the same transaction as a `failed` event.
    const commit = async <R>(fn: (tx: WriteTx) => Promise<R>, outcome?: { outcome: AuditOutcome; reason?: string }): Promise<R> => {
      if (committed) throw new CairnError('INTERNAL', 'an audited operation committed twice');
      const r = await this.#db.transaction().execute(async (trx) => {
        const tx = makeWriteTx(trx);
        // Take the log's head first: it serializes all audited writers (PostgreSQL row lock;
        // SQLite already holds the write lock), so version numbers and indexes never race.
        await lockHead(tx, this.#dialect);
        const out = await fn(tx);
        await this.#append(tx, [{ draft, outcome: outcome?.outcome ?? 'ok', ...(outcome?.reason ? { reason: outcome.reason } : {}) }]);
        return out;
      });
      committed = true;
      this.#appended++;
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
    const [ev] = await this.#db.transaction().execute(async (trx) => this.#append(makeWriteTx(trx), [{ draft, outcome, ...(reason ? { reason } : {}) }]));
    this.#appended++;
    return ev!;
  }

  /** Appends many events in one transaction (bulk import, benchmarks). */
  async recordMany(items: Array<{ draft: EventDraft; outcome: AuditOutcome; reason?: string }>): Promise<AppendedEvent[]> {
    const out = await this.#db.transaction().execute(async (trx) => this.#append(makeWriteTx(trx), items));
    this.#appended += out.length;
    return out;
  }

  async #append(tx: WriteTx, items: Array<{ draft: EventDraft; outcome: AuditOutcome; reason?: string }>): Promise<AppendedEvent[]> {
    const head = await lockHead(tx, this.#dialect);
    // Reuse the frontier this process left behind when nobody else appended since (same size
    // and last leaf); parsing it from JSON on every append was a fifth of the cost.
    const cached = this.#frontierCache;
    const frontier = cached && cached.size === head.size && cached.lastLeaf === head.lastLeaf ? cached.frontier.clone() : Frontier.fromJSON(JSON.parse(head.frontier));
    if (frontier.size !== head.size) throw new CairnError('AUDIT_INCONSISTENT', 'the audit head is damaged (frontier size differs from log size)');
    const ctx = this.#ctx();
    let prev = head.lastLeaf;
    const rows: AuditEventRow[] = [];
    const nodes: Array<{ level: number; idx: number; hash: string }> = [];
    const out: AppendedEvent[] = [];
    for (const item of items) {
      const index = frontier.size;
      const event = buildEvent(ctx, item.draft, {
        index,
        prev,
        id: uuidv7(),
        time: isoUtc(this.#clock.now()),
        outcome: item.outcome,
        ...(item.reason !== undefined ? { reason: item.reason } : {}),
      });
      const entry = encodeEvent(event);
      const leaf = leafHash(Buffer.from(entry, 'utf8'));
      for (const n of frontier.append(leaf)) nodes.push({ level: n.level, idx: n.index, hash: n.hash.toString('hex') });
      const leafHex = leaf.toString('hex');
      rows.push({
        idx: index,
        event_id: event.id,
        time: event.time,
        actor: event.actor.id,
        action: event.action,
        target_type: event.target.type,
        target_name: event.target.name ?? null,
        outcome: event.outcome,
        leaf_hash: leafHex,
        entry,
      });
      out.push({ index, leafHash: leafHex, event });
      prev = leafHex;
    }
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

  /** MTH over [start, end) from stored nodes; fetches exactly the nodes the range needs. */
  async #rangeHasher(ranges: Array<[number, number]>): Promise<(s: number, e: number) => Buffer> {
    const keys: Array<{ level: number; idx: number }> = [];
    for (const [s, e] of ranges) {
      rangeHash(s, e, (level, idx) => {
        keys.push({ level, idx });
        return Buffer.alloc(32);
      });
    }
    const got = await getNodes(this.#db, keys);
    const lookup = (level: number, idx: number): Buffer => {
      const h = got.get(`${level}:${idx}`);
      if (!h) throw new CairnError('AUDIT_INCONSISTENT', `audit tree node ${level}/${idx} is missing`);
      return Buffer.from(h, 'hex');
    };
    return (s, e) => rangeHash(s, e, lookup);
  }

  /** Computes which ranges a proof generator asks for, then answers them from the database. */
  async #withStoredTree<R>(gen: (mth: (s: number, e: number) => Buffer) => R): Promise<R> {
    const ranges: Array<[number, number]> = [];
    gen((s, e) => {
      ranges.push([s, e]);
      return Buffer.alloc(32);
    });
    const mth = await this.#rangeHasher(ranges);
    return gen(mth);
  }

  async rootAt(size: number): Promise<Buffer> {
    if (size === 0) return (await import('../merkle/index.js')).emptyRoot();
    return this.#withStoredTree((mth) => mth(0, size));
  }

  /**
   * Signs a checkpoint for the current size, unless one exists. Refuses (AUDIT_INCONSISTENT)
   * if the stored tree does not extend the last signed checkpoint: the log must never sign
   * two views that contradict each other.
   */
  async checkpoint(): Promise<SignedCheckpoint | null> {
    const head = await readHead(this.#db);
    if (head.size === 0) return null;
    const last = await latestCheckpoint(this.#db);
    if (last && Number(last.size) === head.size) return null;
    const root = Frontier.fromJSON(JSON.parse(head.frontier)).root();
    if (last) {
      const m = Number(last.size);
      const oldRoot = await this.rootAt(m);
      if (oldRoot.toString('hex') !== last.root) {
        throw new CairnError('AUDIT_INCONSISTENT', `refusing to sign: the log no longer matches its checkpoint at size ${m}`, {
          data: { size: m },
          hint: 'run `cairn audit verify` to find the damaged entry',
        });
      }
      const storedRoot = await this.rootAt(head.size);
      if (!storedRoot.equals(root)) throw new CairnError('AUDIT_INCONSISTENT', 'refusing to sign: the stored tree and the head disagree');
    }
    const note = signCheckpoint({ origin: this.keys.origin, size: head.size, rootHash: root }, this.keys.signer());
    const rootHex = root.toString('hex');
    await this.#db.transaction().execute(async (trx) => {
      await insertCheckpoint(makeWriteTx(trx), { size: head.size, root: rootHex, note, created_at: isoUtc(this.#clock.now()) });
    });
    return { size: head.size, root: rootHex, note };
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    const c = await latestCheckpoint(this.#db);
    return c ? { size: Number(c.size), root: c.root, note: c.note } : null;
  }

  async checkpoints(): Promise<SignedCheckpoint[]> {
    return (await allCheckpoints(this.#db)).map((c) => ({ size: Number(c.size), root: c.root, note: c.note }));
  }

  /** Inclusion proof of entry `index` in the latest signed checkpoint that covers it. */
  async prove(index: number, entry: string, leaf: string): Promise<InclusionBundle> {
    let cp = await this.latestCheckpoint();
    if (!cp || cp.size <= index) cp = await this.checkpoint();
    if (!cp || cp.size <= index) throw new CairnError('NOT_FOUND', `no checkpoint covers entry ${index}`);
    const size = cp.size;
    const proof = await this.#withStoredTree((mth) => inclusionProof(index, size, mth));
    return { index, entry, leafHash: leaf, treeSize: size, proof: proof.map((p) => p.toString('hex')), checkpoint: cp.note };
  }

  async consistency(m: number, n: number): Promise<string[]> {
    const proof = await this.#withStoredTree((mth) => consistencyProof(m, n, mth));
    return proof.map((p) => p.toString('hex'));
  }

  /** Verifies a checkpoint note against this log's own key. */
  openOwnCheckpoint(note: string) {
    return openCheckpoint(note, [this.keys.verifier]);
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
