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
import { Frontier, consistencyProof, inclusionProof, leafHash, rangeHash, verifyConsistency } from '../merkle/index.js';
import { openCheckpoint, signCheckpoint } from '../note/index.js';
import type { KeptCheckpoint, KnownCheckpoint } from './kept-checkpoint.js';
import type { LogKeys } from './signer.js';

const IN_DB = 'in the database';

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
  readonly #kept: KeptCheckpoint | null;
  readonly #witnesses: KnownCheckpoint[] = [];
  #appended = 0;
  #frontierCache: { size: number; lastLeaf: string | null; frontier: Frontier } | null = null;

  constructor(opts: {
    db: Kysely<Database>;
    dialect: 'sqlite' | 'postgres';
    context: () => AuditContext;
    clock: Clock;
    keys: LogKeys;
    kept?: KeptCheckpoint;
  }) {
    this.#db = opts.db;
    this.#kept = opts.kept ?? null;
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
    body: (
      commit: <R>(fn: (tx: WriteTx) => Promise<R>, outcome?: { outcome: AuditOutcome; reason?: string }) => Promise<R>,
      draft: EventDraft,
    ) => Promise<T>,
  ): Promise<T> {
    let committed = false;
    // `outcome` lets a check that ran but found problems (validate, fsck) store its report in
    // the same transaction as a `failed` event.
    const commit = async <R>(
      fn: (tx: WriteTx) => Promise<R>,
      outcome?: { outcome: AuditOutcome; reason?: string },
    ): Promise<R> => {
      if (committed) throw new CairnError('INTERNAL', 'an audited operation committed twice');
      const r = await this.#db.transaction().execute(async (trx) => {
        const tx = makeWriteTx(trx);
        // Take the log's head first: it serializes all audited writers (PostgreSQL row lock;
        // SQLite already holds the write lock), so version numbers and indexes never race.
        await lockHead(tx, this.#dialect);
        const out = await fn(tx);
        await this.#append(tx, [
          { draft, outcome: outcome?.outcome ?? 'ok', ...(outcome?.reason ? { reason: outcome.reason } : {}) },
        ]);
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
    const [ev] = await this.#db
      .transaction()
      .execute(async (trx) => this.#append(makeWriteTx(trx), [{ draft, outcome, ...(reason ? { reason } : {}) }]));
    this.#appended++;
    return ev!;
  }

  /** Appends many events in one transaction (bulk import, benchmarks). */
  async recordMany(
    items: Array<{ draft: EventDraft; outcome: AuditOutcome; reason?: string }>,
  ): Promise<AppendedEvent[]> {
    const out = await this.#db.transaction().execute(async (trx) => this.#append(makeWriteTx(trx), items));
    this.#appended += out.length;
    return out;
  }

  async #append(
    tx: WriteTx,
    items: Array<{ draft: EventDraft; outcome: AuditOutcome; reason?: string }>,
  ): Promise<AppendedEvent[]> {
    const head = await lockHead(tx, this.#dialect);
    // Reuse the frontier this process left behind when nobody else appended since (same size
    // and last leaf); parsing it from JSON on every append was a fifth of the cost.
    const cached = this.#frontierCache;
    const frontier =
      cached && cached.size === head.size && cached.lastLeaf === head.lastLeaf
        ? cached.frontier.clone()
        : Frontier.fromJSON(JSON.parse(head.frontier));
    if (frontier.size !== head.size)
      throw new CairnError('AUDIT_INCONSISTENT', 'the audit head is damaged (frontier size differs from log size)');
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
   * unless the stored tree is a consistent extension of every checkpoint known anywhere: the
   * database's latest, the one kept outside it (`kept`), and any a remote holds (`witness`).
   * The log must never sign two views that contradict each other, and someone who can write
   * only the database must not be able to make it sign a rewritten history.
   */
  async checkpoint(): Promise<SignedCheckpoint | null> {
    // The known checkpoints first, the head after: the log only grows, so a checkpoint read
    // before the head never covers more than it (another process may sign in between).
    const known = await this.knownCheckpoints();
    const head = await readHead(this.#db);
    const root = Frontier.fromJSON(JSON.parse(head.frontier)).root();
    await this.#assertExtends(known, head.size, root);
    if (head.size === 0) return null;
    const inDb = known.find((k) => k.where === IN_DB);
    if (inDb && inDb.size === head.size) {
      // Nothing new to sign; a workspace from before the kept copy existed gets one now.
      await this.#keep(inDb.note, inDb.size);
      return null;
    }
    const note = signCheckpoint({ origin: this.keys.origin, size: head.size, rootHash: root }, this.keys.signer());
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
    await this.#keep(note, head.size);
    return { size: head.size, root: rootHex, note };
  }

  /**
   * Every checkpoint this log is known to have signed, from outside the entries: the database's
   * latest row, the copy kept outside the database and the witnesses this process was given.
   * Each must carry this log's signature: a note that does not is refused, not ignored.
   */
  async knownCheckpoints(): Promise<KnownCheckpoint[]> {
    const out: KnownCheckpoint[] = [];
    const kept = this.#kept?.read() ?? null;
    if (kept !== null) out.push(this.#openKnown(kept, `in ${this.#kept!.where}`));
    const row = await latestCheckpoint(this.#db);
    if (row) {
      const k = this.#openKnown(row.note, IN_DB);
      if (k.size !== Number(row.size) || k.root !== row.root) {
        throw new CairnError(
          'AUDIT_INCONSISTENT',
          `refusing to sign: the checkpoint row of size ${String(row.size)} does not match its signed note`,
          {
            data: { size: Number(row.size) },
            hint: 'run `cairn audit verify` to see what else was changed in the database',
          },
        );
      }
      out.push(k);
    }
    out.push(...this.#witnesses);
    return out;
  }

  /** The note kept outside the database, or null (none yet, or no such store configured). */
  keptNote(): { note: string; where: string } | null {
    const note = this.#kept?.read() ?? null;
    return note === null ? null : { note, where: this.#kept!.where };
  }

  /**
   * Remembers `note`, a checkpoint of this log kept elsewhere (e.g. the last one pushed to a
   * remote), so that no checkpoint this process signs contradicts it, then checks that the
   * stored log extends it: AUDIT_INCONSISTENT when it does not. A note without this log's
   * signature is refused and not remembered.
   */
  async witness(note: string, where: string): Promise<KnownCheckpoint> {
    const k = this.#openKnown(note, where);
    this.#witnesses.push(k);
    const head = await readHead(this.#db);
    await this.#assertExtends([k], head.size, Frontier.fromJSON(JSON.parse(head.frontier)).root());
    return k;
  }

  #openKnown(note: string, where: string): KnownCheckpoint {
    let cp;
    try {
      cp = this.openOwnCheckpoint(note).checkpoint;
    } catch (err) {
      throw new CairnError(
        'AUDIT_INCONSISTENT',
        `the checkpoint ${where} does not carry this log's signature: ${(err as Error).message}`,
        {
          data: { where },
          hint: 'someone replaced it, or the workspace key changed; run `cairn audit verify` and compare with a checkpoint kept elsewhere (docs/AUDIT.md)',
        },
      );
    }
    if (cp.origin !== this.keys.origin) {
      throw new CairnError(
        'AUDIT_INCONSISTENT',
        `the checkpoint ${where} is for log ${cp.origin}, not ${this.keys.origin}`,
        { data: { where } },
      );
    }
    return { size: cp.size, root: cp.rootHash.toString('hex'), note, where };
  }

  /**
   * That the stored tree of `size` entries, whose head root is `root`, extends every `known`
   * checkpoint: checked with a consistency proof (RFC 9162 §2.1.4) from stored nodes, so a
   * forger who rebuilt the nodes after rewriting entries cannot pass it without the old roots.
   */
  async #assertExtends(known: readonly KnownCheckpoint[], size: number, root: Buffer): Promise<void> {
    if (known.length === 0) return;
    const refuse = (k: KnownCheckpoint, why: string) =>
      new CairnError('AUDIT_INCONSISTENT', `refusing to sign: ${why}`, {
        data: { size: k.size, where: k.where },
        hint: 'run `cairn audit verify` to find the damaged entries; restore the metadata from a backup that holds them (docs/AUDIT.md "What the log proves")',
      });
    if (size > 0) {
      const stored = await this.rootAt(size);
      if (!stored.equals(root)) throw refuse(known[0]!, 'the stored tree and the head disagree');
    }
    const seen = new Map<number, KnownCheckpoint>();
    for (const k of known) {
      const other = seen.get(k.size);
      if (other && other.root !== k.root)
        throw refuse(
          k,
          `two signed checkpoints of size ${k.size} disagree (${other.where} and ${k.where}): the log was forked`,
        );
      seen.set(k.size, k);
    }
    for (const k of seen.values()) {
      if (k.size > size)
        throw refuse(
          k,
          `the log has ${size} entries but the checkpoint ${k.where} covers ${k.size}: entries were removed`,
        );
      const proof = k.size === size ? [] : (await this.consistency(k.size, size)).map((h) => Buffer.from(h, 'hex'));
      if (!verifyConsistency(k.size, size, Buffer.from(k.root, 'hex'), root, proof)) {
        throw refuse(
          k,
          `the log no longer matches its checkpoint at size ${k.size} (${k.where}): an entry before ${k.size} was changed, removed or inserted`,
        );
      }
    }
  }

  /** Updates the kept copy when `size` is beyond it; never moves it back. */
  async #keep(note: string, size: number): Promise<void> {
    if (!this.#kept) return;
    const current = this.#kept.read();
    if (current !== null) {
      try {
        if (this.openOwnCheckpoint(current).checkpoint.size >= size) return;
      } catch {
        // Unreadable: checkpoint() refused before getting here, so this is a race; replace it.
      }
    }
    await this.#kept.write(note);
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
    return {
      index,
      entry,
      leafHash: leaf,
      treeSize: size,
      proof: proof.map((p) => p.toString('hex')),
      checkpoint: cp.note,
    };
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
