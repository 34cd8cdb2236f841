import { CairnError } from '../../core/errors.js';
import { splitPoint } from './bits.js';
import { emptyRoot, nodeHash } from './hash.js';

// Literal transcriptions of the recursive definitions in RFC 6962 §2.1. They recompute everything from
// the leaves, so they serve as the independent reference the fast code is tested against, and as a
// convenience for small trees.

/** MTH(D[n]) over already leaf-hashed entries. */
export function naiveRoot(leafHashes: readonly Buffer[]): Buffer {
  const n = leafHashes.length;
  if (n === 0) return emptyRoot();
  if (n === 1) return Buffer.from(leafHashes[0] as Buffer);
  const k = splitPoint(n);
  return nodeHash(naiveRoot(leafHashes.slice(0, k)), naiveRoot(leafHashes.slice(k)));
}

/** PATH(m, D[n]) from RFC 6962 §2.1.1. */
export function naiveInclusionProof(index: number, leafHashes: readonly Buffer[]): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new CairnError('INVALID_INPUT', `leaf index ${index} is outside a tree of ${n} leaves`, {
      data: { index, size: n },
    });
  }
  if (n === 1) return [];
  const k = splitPoint(n);
  return index < k
    ? [...naiveInclusionProof(index, leafHashes.slice(0, k)), naiveRoot(leafHashes.slice(k))]
    : [...naiveInclusionProof(index - k, leafHashes.slice(k)), naiveRoot(leafHashes.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) from RFC 6962 §2.1.2; empty for m = 0 and m = n. */
export function naiveConsistencyProof(m: number, leafHashes: readonly Buffer[]): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(m) || m < 0 || m > n) {
    throw new CairnError('INVALID_INPUT', `cannot prove size ${m} consistent with size ${n}`, { data: { m, n } });
  }
  return m === 0 ? [] : subproof(m, leafHashes, true);
}

function subproof(m: number, d: readonly Buffer[], b: boolean): Buffer[] {
  const n = d.length;
  if (m === n) return b ? [] : [naiveRoot(d)];
  const k = splitPoint(n);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), naiveRoot(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), naiveRoot(d.slice(0, k))];
}
