import { CairnError } from '../../core/errors.js';
import { largestPowerOfTwoAtMost } from './bits.js';
import { emptyRoot, isHash, nodeHash } from './hash.js';

/**
 * Returns the hash of the perfect subtree of height `level` covering leaves
 * [index·2^level, (index+1)·2^level); level 0 is the leaf hashes themselves.
 */
export type PerfectNodeLookup = (level: number, index: number) => Buffer;

/**
 * MTH(D[start:end]) assembled from stored perfect subtrees, so a log never rehashes old leaves.
 *
 * Precondition: `start` is a multiple of the largest power of two ≤ end − start. Every subtree that
 * the RFC 6962 recursion visits satisfies it (and every range an inclusion or consistency proof asks
 * for is such a subtree), because the recursion always splits at a power of two. Under it, the range
 * is the run of perfect blocks given by the binary digits of its length, largest first, each aligned
 * to its own size; MTH of the range is those blocks folded right to left, exactly as the recursion
 * would combine them. A misaligned range has no such decomposition and throws INVALID_INPUT.
 *
 * An empty range (start = end) is MTH({}) = SHA-256("").
 */
export function rangeHash(start: number, end: number, perfectNode: PerfectNodeLookup): Buffer {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new CairnError('INVALID_INPUT', `invalid leaf range [${start}, ${end})`, { data: { start, end } });
  }
  const length = end - start;
  if (length === 0) return emptyRoot();
  if (start % largestPowerOfTwoAtMost(length) !== 0) {
    throw new CairnError('INVALID_INPUT', `leaf range [${start}, ${end}) is not aligned to a subtree of the log`, {
      data: { start, end },
    });
  }

  const blocks: Buffer[] = [];
  let at = start;
  let remaining = length;
  let width = largestPowerOfTwoAtMost(length);
  let level = 0;
  for (let w = width; w > 1; w /= 2) level++;
  for (; remaining > 0; width /= 2, level--) {
    if (remaining < width) continue;
    const block = perfectNode(level, at / width);
    if (!isHash(block)) {
      throw new CairnError(
        'INVALID_INPUT',
        `the stored node at level ${level}, index ${at / width} is not a 32-byte hash`,
        {
          data: { level, index: at / width },
        },
      );
    }
    blocks.push(block);
    at += width;
    remaining -= width;
  }

  let acc = blocks[blocks.length - 1] as Buffer;
  for (let i = blocks.length - 2; i >= 0; i--) acc = nodeHash(blocks[i] as Buffer, acc);
  return acc;
}
