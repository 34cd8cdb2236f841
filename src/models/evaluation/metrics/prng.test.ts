import { describe, expect, it } from 'vitest';
import { Xoshiro128, lowbias32 } from './prng.js';

// Expected values come from the C reference (xoshiro128starstar.c, lowbias32 from Wellons' post)
// compiled with gcc: the generator is part of every recorded interval, so it is pinned here.
describe('xoshiro128**', () => {
  it('reproduces the C reference from state 1, 2, 3, 4', () => {
    const g = new Xoshiro128(1, 2, 3, 4);
    expect(Array.from({ length: 6 }, () => g.next())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('hashes with lowbias32 as the reference does', () => {
    expect(lowbias32(0)).toBe(0);
    expect(lowbias32(1)).toBe(1753845952);
    expect(lowbias32(0xdeadbeef)).toBe(3861431939);
  });

  it('expands a 32-bit seed and draws resample counts as the C reference does', () => {
    // C: state word i = lowbias32(seed + (i + 1) * 0x9e3779b9); index = (u * n) >> 32.
    const g0 = Xoshiro128.fromSeed(0);
    const c = new Uint32Array(10);
    g0.fillCounts(c);
    expect(Array.from(c)).toEqual([0, 1, 0, 1, 0, 1, 1, 1, 2, 3]);
    g0.fillCounts(c);
    expect(Array.from(c)).toEqual([0, 2, 1, 3, 1, 1, 1, 0, 1, 0]);
    const g1 = Xoshiro128.fromSeed(12345);
    g1.fillCounts(c);
    expect(Array.from(c)).toEqual([1, 1, 3, 1, 0, 0, 1, 0, 1, 2]);
    g1.fillCounts(c);
    expect(Array.from(c)).toEqual([1, 2, 2, 0, 1, 0, 1, 1, 1, 1]);
  });

  it('draws counts exactly as n calls of index(n), summing to n', () => {
    const a = Xoshiro128.fromSeed(7);
    const b = Xoshiro128.fromSeed(7);
    const n = 1000;
    const counts = new Uint32Array(n);
    a.fillCounts(counts);
    const expected = new Uint32Array(n);
    for (let k = 0; k < n; k++) expected[b.index(n)]! += 1;
    expect(counts).toEqual(expected);
    expect(counts.reduce((s, x) => s + x, 0)).toBe(n);
    expect(a.next()).toBe(b.next());
  });
});
