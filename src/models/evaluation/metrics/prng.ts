/**
 * The bootstrap's random numbers. A gate that passes on one machine and fails on another is
 * worse than no gate, so the generator is fixed, documented and bit-reproducible everywhere:
 *
 *   - xoshiro128** 1.1 (Blackman & Vigna, 2018; https://prng.di.unimi.it/xoshiro128starstar.c):
 *     128 bits of state, 32-bit outputs, period 2^128 − 1. Only 32-bit integer operations
 *     (Math.imul, shifts), so JavaScript reproduces the C reference exactly.
 *   - Seeding from a 32-bit seed: state word i (i = 0..3) is lowbias32(seed + (i + 1) · 0x9e3779b9)
 *     mod 2^32, the SplitMix construction (a golden-ratio counter through an integer hash;
 *     lowbias32 is Wellons' 2-round hash). It spreads nearby seeds (0, 1, 2…) over unrelated states;
 *     an all-zero state (the one xoshiro cannot leave) is replaced by the reference test state 1, 2, 3, 4.
 *   - Indices: index = floor(u · n / 2^32) for a 32-bit output u (multiply-shift, no rejection),
 *     computed in doubles: exact (= the C expression (uint64_t)u * n >> 32) up to n = 2^21 rows,
 *     within one ulp above. Its bias is below n / 2^32 per index (2.3e-5 for n = 100,000), far
 *     under bootstrap noise.
 *
 * Changing any of this changes every recorded confidence interval: treat it as a format.
 */

export const PRNG_NAME = 'xoshiro128** seeded by splitmix32/lowbias32';

const TWO_POW_MINUS_32 = 1 / 4294967296;

/** Wellons' lowbias32 integer hash (https://nullprogram.com/blog/2018/07/31/). */
export function lowbias32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A generator from a 32-bit seed (see the header for the expansion). */
  static fromSeed(seed: number): Xoshiro128 {
    const base = seed >>> 0;
    const w = [1, 2, 3, 4].map((i) => lowbias32((base + Math.imul(i, 0x9e3779b9)) >>> 0));
    if ((w[0]! | w[1]! | w[2]! | w[3]!) === 0) return new Xoshiro128(1, 2, 3, 4);
    return new Xoshiro128(w[0]!, w[1]!, w[2]!, w[3]!);
  }

  /** A generator from its raw state (tests compare this against the C reference). */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  /** The next 32-bit output, as an unsigned integer. */
  next(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** A uniform index in [0, n). */
  index(n: number): number {
    return (this.next() * n * TWO_POW_MINUS_32) >>> 0;
  }

  /**
   * One bootstrap resample as multiplicities: counts[i] = how often row i was drawn in n draws
   * with replacement (n = counts.length). The generator is inlined with its state in locals
   * because this loop is the bootstrap's floor: 100,000 draws per resample, 1,000 resamples.
   * The draws are exactly `index(n)` called n times.
   */
  fillCounts(counts: Uint32Array): void {
    const n = counts.length;
    // u · (n / 2^32) rounds once, like (u · n) / 2^32: n / 2^32 is exact (a power-of-two scaling).
    const scale = n * TWO_POW_MINUS_32;
    counts.fill(0);
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let k = 0; k < n; k++) {
      const x = Math.imul(s1, 5);
      const u = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      counts[(u * scale) >>> 0]!++;
    }
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
