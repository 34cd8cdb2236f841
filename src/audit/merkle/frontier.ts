import { CairnError } from '../../core/errors.js';
import { isTreeSize, popCount } from './bits.js';
import { emptyRoot, isHash, nodeHash } from './hash.js';

/** A perfect subtree: leaves [index·2^level, (index+1)·2^level). */
export interface PerfectNode {
  level: number;
  index: number;
  hash: Buffer;
}

export interface FrontierJSON {
  size: number;
  hashes: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The right edge of a log: one perfect subtree per one bit of the size, largest (leftmost) first.
 * That is all an append-only log needs in memory to add a leaf and to compute its root in O(log n),
 * and it is small enough to persist next to each checkpoint.
 */
export class Frontier {
  #size: number;
  readonly #hashes: Buffer[];

  constructor() {
    this.#size = 0;
    this.#hashes = [];
  }

  get size(): number {
    return this.#size;
  }

  /** An independent copy (the hashes are immutable buffers, so they are shared). */
  clone(): Frontier {
    const f = new Frontier();
    f.#size = this.#size;
    f.#hashes.push(...this.#hashes);
    return f;
  }

  /** The perfect subtree hashes, left to right (copies). */
  get hashes(): Buffer[] {
    return this.#hashes.map((h) => Buffer.from(h));
  }

  /**
   * Adds a leaf hash and returns the perfect nodes of level ≥ 1 that it completes, lowest first:
   * exactly the interior nodes a log must store so that `rangeHash` can later find them.
   */
  append(leaf: Uint8Array): PerfectNode[] {
    if (!isHash(leaf)) {
      throw new CairnError('INVALID_INPUT', 'a leaf hash must be 32 bytes', {
        data: { length: (leaf as Uint8Array | undefined)?.length ?? null },
      });
    }
    if (this.#size >= Number.MAX_SAFE_INTEGER) {
      throw new CairnError('UNSUPPORTED', 'the log has reached the largest size this implementation can count');
    }
    const completed: PerfectNode[] = [];
    let hash: Buffer = Buffer.from(leaf);
    let index = this.#size;
    let level = 0;
    // Each trailing one bit of the old size is a perfect subtree the new leaf's subtree now pairs with.
    while (index % 2 === 1) {
      hash = nodeHash(this.#hashes.pop() as Buffer, hash);
      index = (index - 1) / 2;
      level++;
      completed.push({ level, index, hash });
    }
    // The returned hashes are fresh buffers except the one kept here, so keep a private copy of it.
    this.#hashes.push(completed.length === 0 ? hash : Buffer.from(hash));
    this.#size++;
    return completed;
  }

  /** MTH of everything appended: the frontier folded right to left, as the RFC 6962 recursion would. */
  root(): Buffer {
    const last = this.#hashes[this.#hashes.length - 1];
    if (last === undefined) return emptyRoot();
    let acc: Buffer = Buffer.from(last);
    for (let i = this.#hashes.length - 2; i >= 0; i--) acc = nodeHash(this.#hashes[i] as Buffer, acc);
    return acc;
  }

  toJSON(): FrontierJSON {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString('hex')) };
  }

  static fromJSON(json: unknown): Frontier {
    const value = json as Partial<FrontierJSON> | null;
    const size = value?.size;
    const hashes = value?.hashes;
    if (
      !isTreeSize(size) ||
      !Array.isArray(hashes) ||
      hashes.length !== popCount(size) ||
      !hashes.every((h): h is string => typeof h === 'string' && HEX64.test(h))
    ) {
      throw new CairnError(
        'INVALID_INPUT',
        'not a Merkle frontier: expected { size, hashes } with one 64-hex hash per one bit of size',
        {
          data: { size: size ?? null, hashes: Array.isArray(hashes) ? hashes.length : null },
        },
      );
    }
    const frontier = new Frontier();
    frontier.#size = size;
    for (const h of hashes) frontier.#hashes.push(Buffer.from(h, 'hex'));
    return frontier;
  }
}
