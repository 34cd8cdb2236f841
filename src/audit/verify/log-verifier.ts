import { canonicalJson } from '../../core/canonical-json.js';
import { Frontier, leafHashOfText } from '../merkle/index.js';
import { scanEntry } from './scan-entry.js';
import {
  formatVerifierKey,
  openCheckpoint,
  parseCheckpointBody,
  rawPublicKey,
  type NoteVerifier,
} from '../note/index.js';
import { isAuditAction } from '../actions.js';
import { KeyChain } from './key-chain.js';

export interface VerifyProblem {
  /** The first entry index the problem concerns (null: the log as a whole). */
  index: number | null;
  /** For problems only known to lie in a range of entries: its end (exclusive). */
  rangeEnd?: number;
  kind:
    | 'leaf-mismatch'
    | 'bad-entry'
    | 'index-mismatch'
    | 'chain-broken'
    | 'gap'
    | 'checkpoint-signature'
    | 'checkpoint-mismatch'
    | 'checkpoint-beyond-log'
    | 'trusted-signature'
    | 'trusted-mismatch'
    | 'truncated'
    | 'kept-signature'
    | 'kept-mismatch'
    | 'kept-beyond-log'
    | 'head-mismatch'
    | 'unsigned-tail'
    | 'bundle-key'
    | 'bundle-incomplete'
    | 'artifact'
    | 'state-mismatch'
    | 'state-unvouched'
    | 'state-missing'
    | 'under-witnessed'
    | 'cosignature'
    | 'timestamp'
    | 'key-transition'
    | 'key-chain';
  message: string;
  /** For a state problem: the table and the row's key (docs/AUDIT.md, "State bound to the log"). */
  table?: string;
  key?: string;
}

export interface CheckpointInput {
  size: number;
  root: string;
  note: string;
}

/**
 * Streams a log through every check in one pass: each entry's bytes against its stored leaf
 * hash, its claimed index, its link to the previous leaf, and the Merkle roots at every
 * signed checkpoint (and at a trusted checkpoint kept outside the workspace). Collects all
 * problems; `firstBad` is the lowest index any of them names.
 */
export class LogVerifier {
  readonly problems: VerifyProblem[] = [];
  readonly #frontier = new Frontier();
  readonly #targets: Array<{ size: number; root: Buffer; what: 'checkpoint' | 'trusted' | 'kept'; note?: string }> = [];
  /** The log's keys, followed through its `keys.rotate` entries from the first one. */
  readonly chain: KeyChain;
  /** Where the kept checkpoint lies, for messages. */
  #keptWhere = '';
  #prevLeaf: string | null = null;
  #expected = 0;
  /** The largest signed-checkpoint size whose root matched: a later mismatch lies after it. */
  #lastGood = 0;
  readonly actions = new Map<string, number>();
  /** Parse every entry fully and require canonical form (slower; `audit verify --deep`). */
  readonly deep: boolean;
  readonly #keep: ReadonlySet<string> | null;
  /** The action of the entry just pushed (null when it has none). */
  lastAction: string | null = null;
  /** The JSON text of the `keep` keys of the entry just pushed (null when it is not a JSON object). */
  lastFields: Record<string, string> | null = null;

  constructor(opts: {
    checkpoints: CheckpointInput[];
    verifier: NoteVerifier;
    origin: string;
    trusted?: { note: string; verifier: NoteVerifier };
    /** The checkpoint kept outside the database (signed with the log's own key). */
    kept?: { note: string; where: string };
    deep?: boolean;
    keep?: ReadonlySet<string>;
  }) {
    this.deep = opts.deep === true;
    this.#keep = opts.keep ?? null;
    this.chain = new KeyChain(opts.origin, {
      ...opts.verifier,
      vkey: formatVerifierKey(opts.verifier.name, rawPublicKey(opts.verifier.publicKey)),
    });
    this.#addCheckpoints(opts.checkpoints, opts.origin);
    if (opts.trusted) {
      try {
        const { checkpoint } = openCheckpoint(opts.trusted.note, [opts.trusted.verifier]);
        if (checkpoint.origin !== opts.origin) {
          this.problems.push({
            index: null,
            kind: 'trusted-mismatch',
            message: `the trusted checkpoint is for log ${checkpoint.origin}, not ${opts.origin}`,
          });
        }
        this.#targets.push({ size: checkpoint.size, root: checkpoint.rootHash, what: 'trusted' });
      } catch (err) {
        this.problems.push({
          index: null,
          kind: 'trusted-signature',
          message: `the trusted checkpoint does not verify: ${(err as Error).message} (was the signing key replaced?)`,
        });
      }
    }
    if (opts.kept) {
      this.#keptWhere = opts.kept.where;
      try {
        const checkpoint = unverifiedBody(opts.kept.note);
        if (checkpoint.origin !== opts.origin) {
          this.problems.push({
            index: null,
            kind: 'kept-mismatch',
            message: `the checkpoint kept in ${opts.kept.where} is for log ${checkpoint.origin}, not ${opts.origin}`,
          });
        } else
          this.#targets.push({ size: checkpoint.size, root: checkpoint.rootHash, what: 'kept', note: opts.kept.note });
      } catch (err) {
        this.problems.push({
          index: null,
          kind: 'kept-signature',
          message: `the checkpoint kept in ${opts.kept.where} is not a checkpoint: ${(err as Error).message}`,
        });
      }
    }
    this.#targets.sort((a, b) => a.size - b.size);
  }

  // Signatures are checked when the entries reach a checkpoint's size: only then is it known
  // which key the log had handed over to (a `keys.rotate` entry before it).
  #addCheckpoints(checkpoints: readonly CheckpointInput[], origin: string): void {
    for (const c of checkpoints) {
      try {
        const checkpoint = unverifiedBody(c.note);
        if (
          checkpoint.origin !== origin ||
          checkpoint.size !== c.size ||
          checkpoint.rootHash.toString('hex') !== c.root
        ) {
          this.problems.push({
            index: null,
            kind: 'checkpoint-signature',
            message: `checkpoint at size ${c.size} does not match its signed note`,
          });
        }
      } catch (err) {
        this.problems.push({
          index: null,
          kind: 'checkpoint-signature',
          message: `checkpoint at size ${c.size}: ${(err as Error).message}`,
        });
      }
      this.#targets.push({ size: c.size, root: Buffer.from(c.root, 'hex'), what: 'checkpoint', note: c.note });
    }
  }

  get size(): number {
    return this.#frontier.size;
  }

  /**
   * An entry a redacted bundle carries only as its leaf hash (an event the reader may not see):
   * it still has to fold into every checkpoint's root and be the next entry's `prev`.
   */
  pushRedacted(idx: number, leaf: string): void {
    if (idx !== this.#expected) {
      this.problems.push({
        index: this.#expected,
        kind: 'gap',
        message: `entry ${this.#expected} is missing (the next stored entry is ${idx})`,
      });
    }
    this.lastAction = null;
    this.lastFields = null;
    this.#prevLeaf = leaf;
    this.#expected = idx + 1;
    this.#frontier.append(Buffer.from(leaf, 'hex'));
    this.#checkTargets();
  }

  push(idx: number, entry: string, storedLeaf: string): void {
    const i = this.#expected;
    if (idx !== i) {
      this.problems.push({ index: i, kind: 'gap', message: `entry ${i} is missing (the next stored entry is ${idx})` });
      // Continue from what is there so later checks still run.
      this.#expected = idx;
    }
    const leafBuf = leafHashOfText(entry);
    const leaf = leafBuf.toString('hex');
    if (leaf !== storedLeaf) {
      this.problems.push({
        index: idx,
        kind: 'leaf-mismatch',
        message: `entry ${idx} was changed: its bytes no longer match its recorded leaf hash`,
      });
    }
    const raw: Record<string, string> | undefined = this.#keep ? {} : undefined;
    let ev: { index?: unknown; prev?: unknown; action?: unknown } | null = this.deep
      ? null
      : scanEntry(entry, this.#keep ?? undefined, raw);
    this.lastFields = ev ? (raw ?? null) : null;
    if (!ev) {
      try {
        ev = JSON.parse(entry) as { index?: unknown; prev?: unknown; action?: unknown };
        if (this.deep && canonicalJson(ev) !== entry)
          this.problems.push({ index: idx, kind: 'bad-entry', message: `entry ${idx} is not in canonical form` });
        if (this.#keep && ev && typeof ev === 'object' && !Array.isArray(ev)) {
          const obj = ev as Record<string, unknown>;
          this.lastFields = Object.fromEntries(
            [...this.#keep].filter((k) => obj[k] !== undefined).map((k) => [k, JSON.stringify(obj[k])]),
          );
        }
      } catch {
        ev = {};
        this.problems.push({ index: idx, kind: 'bad-entry', message: `entry ${idx} is not valid JSON` });
      }
    }
    this.lastAction = typeof ev?.action === 'string' ? ev.action : null;
    if (this.lastAction === 'keys.rotate') this.#transition(idx, entry);
    if (ev.index !== idx) {
      this.problems.push({
        index: idx,
        kind: 'index-mismatch',
        message: `entry ${idx} claims to be entry ${String(ev.index)} (moved, swapped, duplicated or inserted)`,
      });
    } else if (ev.prev !== this.#prevLeaf && idx === i) {
      // The entry before this one changed after this one committed to it.
      this.problems.push({
        index: Math.max(0, idx - 1),
        kind: 'chain-broken',
        message: `entry ${idx - 1} no longer matches what entry ${idx} recorded as its predecessor (changed, removed or inserted)`,
      });
    }
    if (typeof ev.action === 'string') {
      if (!isAuditAction(ev.action))
        this.problems.push({
          index: idx,
          kind: 'bad-entry',
          message: `entry ${idx} has action ${ev.action}, which is not in the closed list`,
        });
      this.actions.set(ev.action, (this.actions.get(ev.action) ?? 0) + 1);
    }
    this.#prevLeaf = leaf;
    this.#expected = idx + 1;
    this.#frontier.append(leafBuf);
    this.#checkTargets();
  }

  /** A `keys.rotate` entry: an audit-key transition moves the chain on (rare: parsed in full). */
  #transition(idx: number, entry: string): void {
    let ev: { outcome?: unknown; params?: { purpose?: unknown; statement?: unknown } };
    try {
      ev = JSON.parse(entry) as typeof ev;
    } catch {
      return; // already reported as bad-entry
    }
    if (ev.outcome !== 'ok' || ev.params?.purpose !== 'audit') return;
    const refused = this.chain.transition(idx, ev.params.statement);
    if (refused) this.problems.push({ index: idx, kind: 'key-transition', message: refused });
  }

  #checkTargets(): void {
    while (this.#targets.length && this.#targets[0]!.size === this.#frontier.size) {
      const t = this.#targets.shift()!;
      if (t.note !== undefined) {
        const bad = this.chain.checkSignature(t.note, t.size);
        if (bad)
          this.problems.push({
            index: null,
            kind: t.what === 'kept' ? 'kept-signature' : 'checkpoint-signature',
            message: t.what === 'kept' ? `the checkpoint kept in ${this.#keptWhere}: ${bad}` : bad,
          });
      }
      if (this.#frontier.root().equals(t.root)) {
        if (t.what === 'checkpoint') this.#lastGood = t.size;
        continue;
      }
      // The workspace's own checkpoints cannot narrow a disagreement with a trusted one: they
      // may have been re-signed along with the entries. Only a matching signed root can.
      const from = t.what === 'trusted' ? 0 : this.#lastGood;
      this.problems.push({
        index: from,
        rangeEnd: t.size,
        kind: t.what === 'trusted' ? 'trusted-mismatch' : t.what === 'kept' ? 'kept-mismatch' : 'checkpoint-mismatch',
        message: `the entries up to size ${t.size} do not hash to the ${this.#describe(t.what)} root; an entry in [${from}, ${t.size}) was altered, removed or inserted`,
      });
    }
  }

  /** Call after the last entry. */
  finish(headSize: number | null): void {
    this.#checkTargets();
    for (const t of this.#targets) {
      this.problems.push({
        index: this.#frontier.size,
        kind: t.what === 'trusted' ? 'truncated' : t.what === 'kept' ? 'kept-beyond-log' : 'checkpoint-beyond-log',
        message: `${t.what === 'kept' ? 'the' : 'a'} ${this.#describe(t.what)} covers ${t.size} entries but the log has only ${this.#frontier.size}: entries were cut off the end`,
      });
    }
    this.#targets.length = 0;
    if (headSize !== null && headSize !== this.#frontier.size) {
      this.problems.push({
        index: Math.min(headSize, this.#frontier.size),
        kind: 'head-mismatch',
        message: `the log head says ${headSize} entries but ${this.#frontier.size} are stored`,
      });
    }
  }

  root(): Buffer {
    return this.#frontier.root();
  }

  #describe(what: 'checkpoint' | 'trusted' | 'kept'): string {
    return what === 'trusted'
      ? 'trusted (exported) checkpoint'
      : what === 'kept'
        ? `checkpoint kept outside the database (${this.#keptWhere})`
        : 'signed checkpoint';
  }

  /**
   * The lowest index a problem names. A root mismatch only says "somewhere in this range";
   * when a precise finding inside the range explains it, the precise one is reported.
   */
  firstBad(): VerifyProblem | null {
    if (this.problems.length === 0) return null;
    const precise = this.problems.filter((p) => p.index !== null && p.rangeEnd === undefined);
    const ranges = this.problems.filter(
      (p) =>
        p.index !== null &&
        p.rangeEnd !== undefined &&
        !precise.some((q) => q.index! >= p.index! && q.index! < p.rangeEnd!),
    );
    const candidates = [...precise, ...ranges];
    if (candidates.length === 0) return this.problems[0]!;
    return candidates.reduce((a, b) => (b.index! < a.index! ? b : a));
  }
}

/** A checkpoint note's body, parsed without checking its signatures (they are checked in order, against the chain). */
export function unverifiedBody(note: string) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('not a signed note (no blank line before the signatures)');
  return parseCheckpointBody(note.slice(0, split + 1));
}
