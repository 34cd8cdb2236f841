/**
 * The sort behind ROC-AUC: row indices by score, ascending, negatives before positives among
 * equal scores, then by row — one total order, the same on every engine.
 *
 * An LSD radix sort on the bytes of the scores rather than Array.prototype.sort with a
 * comparator: O(n) instead of O(n log n) comparator calls (100,000 rows: ~3 ms instead of
 * ~25 ms; 10 million: well under a second instead of several), and it runs once per model and
 * metric set. Non-negative IEEE-754 doubles order like their bit patterns read as unsigned
 * integers, so sorting by bytes, least significant first, with a stable counting sort per byte,
 * sorts by value. Starting from the (label, row) order and sorting stably keeps that order
 * within ties. Passes where every row has the same byte are skipped (float32 scores leave the
 * low three bytes zero).
 */

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Scores must be non-negative (the metrics validate [0, 1]); labels 0 or 1. */
export function scoreOrder(y: Float64Array, p: Float64Array): Uint32Array {
  const n = p.length;
  let src = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) if (y[i] === 0) src[k++] = i;
  for (let i = 0; i < n; i++) if (y[i] !== 0) src[k++] = i;
  // + 0 turns −0 into +0, whose sign bit would otherwise sort it after every other score.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = p[i]! + 0;
  const bytes = new Uint8Array(keys.buffer);
  let dst = new Uint32Array(n);
  const bucket = new Uint32Array(256);
  for (let b = 0; b < 8; b++) {
    const at = LITTLE_ENDIAN ? b : 7 - b;
    bucket.fill(0);
    for (let i = 0; i < n; i++) bucket[bytes[8 * i + at]!]!++;
    if (n === 0 || bucket[bytes[at]!] === n) continue;
    let sum = 0;
    for (let d = 0; d < 256; d++) {
      const c = bucket[d]!;
      bucket[d] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const row = src[j]!;
      const d = bytes[8 * row + at]!;
      dst[bucket[d]!] = row;
      bucket[d]!++;
    }
    [src, dst] = [dst, src];
  }
  return src;
}
