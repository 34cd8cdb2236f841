import type { Kysely } from 'kysely';
import { CairnError } from '../../core/errors.js';
import { latestCheckpoint } from '../../meta/repos/audit.js';
import type { Database } from '../../meta/schema.js';
import { verifyConsistency } from '../merkle/index.js';
import { openCheckpoint } from '../note/index.js';
import type { KeptCheckpoint, KnownCheckpoint } from './kept-checkpoint.js';
import type { LogKeys } from './signer.js';
import type { StoredTree } from './stored-tree.js';

export const IN_DB = 'in the database';

/** How many verified notes to remember (the kept one, the database's latest, a few witnesses). */
const OPENED_LIMIT = 16;

/**
 * Keeps the log from signing a view that contradicts a checkpoint it signed before: gathers
 * every checkpoint known from outside the entries (the database's latest, the copy kept
 * outside the database, witnesses), checks the stored tree extends each, and updates the kept
 * copy. A note's signature is checked once per process: the same text under the same key
 * verifies the same way, and re-checking both notes at every checkpoint was most of its cost.
 */
export class CheckpointGuard {
  readonly #db: Kysely<Database>;
  readonly #keys: () => LogKeys;
  readonly #kept: KeptCheckpoint | null;
  readonly #tree: StoredTree;
  readonly witnesses: KnownCheckpoint[] = [];
  readonly #opened = new Map<string, { size: number; root: string; origin: string }>();

  constructor(opts: { db: Kysely<Database>; keys: () => LogKeys; kept: KeptCheckpoint | null; tree: StoredTree }) {
    this.#db = opts.db;
    this.#keys = opts.keys;
    this.#kept = opts.kept;
    this.#tree = opts.tree;
  }

  /**
   * Every checkpoint this log is known to have signed, from outside the entries. Each must
   * carry this log's signature: a note that does not is refused, not ignored.
   */
  async known(): Promise<KnownCheckpoint[]> {
    const out: KnownCheckpoint[] = [];
    const kept = this.#kept?.read() ?? null;
    if (kept !== null) out.push(this.open(kept, `in ${this.#kept!.where}`));
    const row = await latestCheckpoint(this.#db);
    if (row) {
      const k = this.open(row.note, IN_DB);
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
    out.push(...this.witnesses);
    return out;
  }

  /** The note kept outside the database, or null (none yet, or no such store configured). */
  keptNote(): { note: string; where: string } | null {
    const note = this.#kept?.read() ?? null;
    return note === null ? null : { note, where: this.#kept!.where };
  }

  /** A note this log signed, opened (AUDIT_INCONSISTENT when it does not carry the log's signature). */
  open(note: string, where: string): KnownCheckpoint {
    let cp = this.#opened.get(note);
    if (!cp) {
      try {
        const keys = this.#keys();
        const { checkpoint } = openCheckpoint(note, [keys.verifier, ...(keys.retired ?? [])]);
        cp = { size: checkpoint.size, root: checkpoint.rootHash.toString('hex'), origin: checkpoint.origin };
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
      if (this.#opened.size >= OPENED_LIMIT) this.#opened.clear();
      this.#opened.set(note, cp);
    }
    if (cp.origin !== this.#keys().origin) {
      throw new CairnError(
        'AUDIT_INCONSISTENT',
        `the checkpoint ${where} is for log ${cp.origin}, not ${this.#keys().origin}`,
        {
          data: { where },
        },
      );
    }
    return { size: cp.size, root: cp.root, note, where };
  }

  /**
   * That the stored tree of `size` entries, whose head root is `root`, extends every `known`
   * checkpoint: checked with a consistency proof (RFC 9162 §2.1.4) from stored nodes, so a
   * forger who rebuilt the nodes after rewriting entries cannot pass it without the old roots.
   */
  async assertExtends(known: readonly KnownCheckpoint[], size: number, root: Buffer): Promise<void> {
    if (known.length === 0) return;
    const refuse = (k: KnownCheckpoint, why: string) =>
      new CairnError('AUDIT_INCONSISTENT', `refusing to sign: ${why}`, {
        data: { size: k.size, where: k.where },
        hint: 'run `cairn audit verify` to find the damaged entries; restore the metadata from a backup that holds them (docs/AUDIT.md "What the log proves")',
      });
    if (size > 0) {
      const stored = await this.#tree.rootAt(size);
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
      const proof =
        k.size === size ? [] : (await this.#tree.consistency(k.size, size)).map((h) => Buffer.from(h, 'hex'));
      if (!verifyConsistency(k.size, size, Buffer.from(k.root, 'hex'), root, proof)) {
        throw refuse(
          k,
          `the log no longer matches its checkpoint at size ${k.size} (${k.where}): an entry before ${k.size} was changed, removed or inserted`,
        );
      }
    }
  }

  /** Updates the kept copy when `size` is beyond it; never moves it back. */
  async keep(note: string, size: number): Promise<void> {
    if (!this.#kept) return;
    const current = this.#kept.read();
    if (current !== null) {
      try {
        if (this.open(current, this.#kept.where).size >= size) return;
      } catch {
        // Unreadable: checkpoint() refused before getting here, so this is a race; replace it.
      }
    }
    await this.#kept.write(note);
  }
}
