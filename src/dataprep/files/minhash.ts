/**
 * Near-duplicate texts by MinHash with LSH banding. Every step is fixed here and in
 * docs/DATAPREP.md ("File collections"), so any implementation reproduces the signatures:
 *
 * 1. Normalize: lower-case (JavaScript `toLowerCase`, i.e. Unicode default case mapping),
 *    split on runs of whitespace (JavaScript `\s`), drop empty words.
 * 2. Shingles: every run of 5 consecutive words, as the UTF-8 of the words joined by single
 *    spaces. A text of 1–4 words is one shingle; a text without words has none.
 * 3. Shingle hash: x = fmix32(FNV-1a-32(shingle bytes)) — FNV offset 2166136261, prime 16777619;
 *    fmix32 is MurmurHash3's finalizer.
 * 4. 128 hash functions h_i(x) = (a_i · x + b_i) mod 2^32, i = 0..127; the parameters come from
 *    a generator seeded with MINHASH_SEED: s ← s + 0x9E3779B9 (mod 2^32), output fmix32(s);
 *    for each i in order a_i = (next output) OR 1, then b_i = next output.
 * 5. Signature: sig[i] = min over shingles of h_i(x), as 32-bit unsigned integers; all
 *    0xFFFFFFFF for a text without words.
 * 6. Similarity: the fraction of positions where two signatures agree estimates the Jaccard
 *    similarity of their shingle sets (standard error ≤ 0.045 with 128 functions).
 * 7. Candidates: LSH with 32 bands of 4 rows. Two texts are compared when all 4 values of at
 *    least one band agree — probability 1 − (1 − J⁴)³², above 99.99% for J ≥ 0.8 and about
 *    5% for J = 0.2 — then kept when their estimated Jaccard ≥ the threshold.
 */
export const MINHASH_SEED = 0x43414952; // ASCII "CAIR"
export const MINHASH_PERMUTATIONS = 128;
export const SHINGLE_WORDS = 5;
export const LSH_BANDS = 32;
export const LSH_ROWS = 4;

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const [A, B] = (() => {
  const a = new Int32Array(MINHASH_PERMUTATIONS);
  const b = new Int32Array(MINHASH_PERMUTATIONS);
  let s = MINHASH_SEED;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    return fmix32(s);
  };
  for (let i = 0; i < MINHASH_PERMUTATIONS; i++) {
    a[i] = next() | 1;
    b[i] = next() | 0;
  }
  return [a, b];
})();

const EMPTY = 0xffffffff;

/** The 128-value MinHash signature of a text (see the steps above). */
export function minhashSignature(text: string): Uint32Array {
  const sig = new Uint32Array(MINHASH_PERMUTATIONS).fill(EMPTY);
  const normalized = text.toLowerCase().replace(/\s+/g, ' ').trim();
  if (normalized.length === 0) return sig;
  const bytes = Buffer.from(normalized, 'utf8');
  // Byte offsets where each word starts and ends in `bytes` (words are split by single spaces).
  const starts: number[] = [0];
  const ends: number[] = [];
  for (let i = bytes.indexOf(0x20); i >= 0; i = bytes.indexOf(0x20, i + 1)) {
    ends.push(i);
    starts.push(i + 1);
  }
  ends.push(bytes.length);
  const words = starts.length;
  const shingles = Math.max(1, words - SHINGLE_WORDS + 1);
  const span = Math.min(SHINGLE_WORDS, words) - 1;
  const xs = new Int32Array(shingles);
  for (let k = 0; k < shingles; k++) {
    let h = 0x811c9dc5;
    const end = ends[k + span] as number;
    for (let i = starts[k] as number; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
    xs[k] = fmix32(h) | 0;
  }
  // One function at a time over all shingles keeps a, b and the minimum in registers. The
  // arithmetic stays in signed 32-bit integers (V8 keeps those unboxed): flipping the top bit
  // turns unsigned order into signed order.
  for (let i = 0; i < MINHASH_PERMUTATIONS; i++) {
    const a = A[i] as number;
    const b = (B[i] as number) ^ 0x80000000;
    let min = 0x7fffffff;
    for (let k = 0; k < shingles; k++) {
      const v = (Math.imul(a, xs[k] as number) + b) | 0;
      if (v < min) min = v;
    }
    sig[i] = (min ^ 0x80000000) >>> 0;
  }
  return sig;
}

/** The fraction of positions where the signatures agree. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new Error(`signatures differ in length (${a.length} and ${b.length})`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length === 0 ? 0 : same / a.length;
}

function isEmpty(sig: Uint32Array): boolean {
  for (let i = 0; i < sig.length; i++) if (sig[i] !== EMPTY) return false;
  return true;
}

function bandKey(sig: Uint32Array, band: number): number {
  let h = band;
  for (let r = 0; r < LSH_ROWS; r++) h = fmix32((h ^ (sig[band * LSH_ROWS + r] as number)) + 0x9e3779b9);
  return h;
}

export interface NearDuplicate {
  left: string;
  right: string;
  jaccard: number;
}

/**
 * Pairs (one from each side) whose estimated Jaccard similarity is at least `threshold`,
 * found through LSH buckets instead of comparing every pair; sorted by left then right id
 * (their order in the inputs). Texts without words are never paired.
 */
export function nearDuplicatePairs(
  left: Array<{ id: string; sig: Uint32Array }>,
  right: Array<{ id: string; sig: Uint32Array }>,
  threshold = 0.8,
): NearDuplicate[] {
  const buckets: Array<Map<number, number[]>> = [];
  for (let band = 0; band < LSH_BANDS; band++) buckets.push(new Map());
  left.forEach((l, li) => {
    if (l.sig.length !== MINHASH_PERMUTATIONS)
      throw new Error(`signature of ${l.id} has ${l.sig.length} values, not ${MINHASH_PERMUTATIONS}`);
    if (isEmpty(l.sig)) return;
    for (let band = 0; band < LSH_BANDS; band++) {
      const m = buckets[band] as Map<number, number[]>;
      const key = bandKey(l.sig, band);
      const list = m.get(key);
      if (list) list.push(li);
      else m.set(key, [li]);
    }
  });
  const seen = new Int32Array(left.length).fill(-1);
  const found: Array<{ li: number; ri: number; jaccard: number }> = [];
  right.forEach((r, ri) => {
    if (r.sig.length !== MINHASH_PERMUTATIONS)
      throw new Error(`signature of ${r.id} has ${r.sig.length} values, not ${MINHASH_PERMUTATIONS}`);
    if (isEmpty(r.sig)) return;
    for (let band = 0; band < LSH_BANDS; band++) {
      const list = (buckets[band] as Map<number, number[]>).get(bandKey(r.sig, band));
      if (!list) continue;
      for (const li of list) {
        if (seen[li] === ri) continue;
        seen[li] = ri;
        const jaccard = estimateJaccard((left[li] as { sig: Uint32Array }).sig, r.sig);
        if (jaccard >= threshold) found.push({ li, ri, jaccard });
      }
    }
  });
  found.sort((x, y) => x.li - y.li || x.ri - y.ri);
  return found.map((f) => ({
    left: (left[f.li] as { id: string }).id,
    right: (right[f.ri] as { id: string }).id,
    jaccard: f.jaccard,
  }));
}
