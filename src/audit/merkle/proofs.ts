import { CairnError } from '../../core/errors.js';
import { isPowerOfTwo, isTreeSize, splitPoint } from './bits.js';
import { emptyRoot, isHash, nodeHash } from './hash.js';

/**
 * MTH(D[start:end]) for the current log. Proof generation only ever asks for subtrees of the RFC 6962
 * recursion, so `(start, end) => rangeHash(start, end, lookup)` over stored perfect nodes suffices.
 */
export type RangeHasher = (start: number, end: number) => Buffer;

/**
 * PATH(index, D[size]) of RFC 6962 §2.1.1: the sibling subtree hashes from the leaf up to the root.
 * Walks the recursion top-down (collecting siblings) instead of recursing, then reverses, so it makes
 * exactly ⌈log2 size⌉ calls to `mth`.
 */
export function inclusionProof(index: number, size: number, mth: RangeHasher): Buffer[] {
  if (!isTreeSize(size) || !isTreeSize(index) || index >= size) {
    throw new CairnError('INVALID_INPUT', `leaf index ${index} is outside a tree of ${size} leaves`, {
      data: { index, size },
    });
  }
  const siblings: Buffer[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      siblings.push(mth(lo + k, hi));
      hi = lo + k;
    } else {
      siblings.push(mth(lo, lo + k));
      lo += k;
    }
  }
  return siblings.reverse();
}

/**
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 6962 §2.1.2. Empty when m = 0 or m = n, where
 * there is nothing to prove beyond comparing the roots.
 */
export function consistencyProof(m: number, n: number, mth: RangeHasher): Buffer[] {
  if (!isTreeSize(m) || !isTreeSize(n) || m > n) {
    throw new CairnError('INVALID_INPUT', `cannot prove size ${m} consistent with size ${n}`, { data: { m, n } });
  }
  if (m === 0 || m === n) return [];
  // The recursion descends one subtree at a time, appending one hash per level; the node where it
  // stops (the subtree that is exactly D[0:m] or, once we have gone right, the piece of it) comes
  // first in the proof unless it is the whole old tree, which the verifier already has as root1.
  const appended: Buffer[] = [];
  let lo = 0;
  let hi = n;
  let wentRight = false;
  while (m < hi) {
    const k = splitPoint(hi - lo);
    if (m - lo <= k) {
      appended.push(mth(lo + k, hi));
      hi = lo + k;
    } else {
      appended.push(mth(lo, lo + k));
      lo += k;
      wentRight = true;
    }
  }
  return wentRight ? [mth(lo, hi), ...appended.reverse()] : appended.reverse();
}

/**
 * The root implied by a leaf hash and its audit path (RFC 9162 §2.1.3.2), or null when the path is
 * malformed for that index and size. The caller still has to compare the result with a trusted root.
 */
export function rootFromInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Buffer | null {
  if (
    !isTreeSize(size) ||
    !isTreeSize(index) ||
    index >= size ||
    !isHash(leaf) ||
    !Array.isArray(proof) ||
    !proof.every(isHash)
  )
    return null;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // Skip the levels where this node has no right sibling: its hash is carried up unchanged.
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** RFC 9162 §2.1.3.2. Never throws: anything malformed is simply not a proof. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(root)) return false;
  const computed = rootFromInclusion(leaf, index, size, proof);
  return computed !== null && computed.equals(root);
}

/**
 * RFC 9162 §2.1.4.2, which covers 0 < m < n. The edge cases are settled as follows: m = n needs an
 * empty proof and equal roots; m = 0 needs an empty proof and root1 = MTH({}) (anything extends the
 * empty log, but a size-0 head that names another root is not a head of any log). Never throws.
 */
export function verifyConsistency(
  m: number,
  n: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isTreeSize(m) || !isTreeSize(n) || m > n || !isHash(root1) || !isHash(root2)) return false;
  if (!Array.isArray(proof) || !proof.every(isHash)) return false;
  if (m === 0) return proof.length === 0 && emptyRoot().equals(root1);
  if (m === n) return proof.length === 0 && Buffer.from(root1).equals(root2);
  if (proof.length === 0) return false;

  // When m is a power of two the old tree is itself a subtree of the new one, so the prover leaves
  // its hash out and the verifier supplies it.
  const path = isPowerOfTwo(m) ? [root1, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}
