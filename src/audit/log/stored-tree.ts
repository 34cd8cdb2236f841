import type { Kysely } from 'kysely';
import { CairnError } from '../../core/errors.js';
import { getNodes } from '../../meta/repos/audit.js';
import type { Database } from '../../meta/schema.js';
import { consistencyProof, emptyRoot, inclusionProof, rangeHash } from '../merkle/index.js';

/**
 * The Merkle tree as the log stores it (one row per perfect interior node): root hashes and
 * proofs answered from exactly the nodes they need, fetched in one query.
 */
export class StoredTree {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
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
    if (size === 0) return emptyRoot();
    return this.#withStoredTree((mth) => mth(0, size));
  }

  async inclusion(index: number, size: number): Promise<Buffer[]> {
    return this.#withStoredTree((mth) => inclusionProof(index, size, mth));
  }

  async consistency(m: number, n: number): Promise<string[]> {
    const proof = await this.#withStoredTree((mth) => consistencyProof(m, n, mth));
    return proof.map((p) => p.toString('hex'));
  }
}
