import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { mulberry32 } from '../../test-support/prng.js';
import {
  CdcScanner,
  chunkBuffer,
  chunkMasks,
  DEFAULT_CHUNK_PARAMS,
  gearTableU32,
  spreadMask,
  validateChunkParams,
  type ChunkParams,
} from './index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL: ChunkParams = { min: 2 * KiB, avg: 8 * KiB, max: 32 * KiB };
const TINY: ChunkParams = { min: 64, avg: 256, max: 1024 };

/** AES-128-CTR keystream for key = 16 copies of `keyByte`, IV 0: fast and reproducible. */
function keystream(length: number, keyByte = 0): Buffer {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, keyByte), Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

function lengths(cuts: number[]): number[] {
  return cuts.map((c, k) => c - (k === 0 ? 0 : cuts[k - 1]!));
}

function feed(data: Uint8Array, sizes: Iterable<number>, params: ChunkParams): number[] {
  const scanner = new CdcScanner(params);
  const cuts: number[] = [];
  let off = 0;
  for (const size of sizes) {
    const end = Math.min(off + size, data.length);
    const got = scanner.update(data.subarray(off, end));
    for (const c of got) {
      // Each reported end must lie inside the block just fed.
      expect(c).toBeGreaterThan(off);
      expect(c).toBeLessThanOrEqual(end);
    }
    cuts.push(...got);
    off = end;
    if (off === data.length) break;
  }
  expect(off).toBe(data.length);
  cuts.push(...scanner.finish());
  return cuts;
}

/**
 * Straight from docs/chunking.md and sharing no code with the scanner: the gear table and
 * masks are re-derived here, and every tested position recomputes its 32-byte window hash
 * from scratch in unsigned arithmetic.
 */
function referenceChunk(data: Uint8Array, p: ChunkParams): number[] {
  const gear: number[] = [];
  for (let i = 0; i < 256; i++) {
    const d = createHash('sha256')
      .update(Buffer.concat([Buffer.from('cairn-gear-v1'), Buffer.from([i])]))
      .digest();
    gear.push(d.readUInt32BE(0));
  }
  const mask = (ones: number): number => {
    let m = 0;
    for (let j = 0; j < ones; j++) m += 2 ** (31 - Math.floor((j * 24) / ones));
    return m;
  };
  const bits = Math.log2(p.avg);
  const strict = mask(bits + 2);
  const loose = mask(bits - 2);
  const windowHash = (end: number): number => {
    let h = 0;
    for (let k = end - 32; k < end; k++) h = (h * 2 + gear[data[k]!]!) % 2 ** 32;
    return h;
  };
  const out: number[] = [];
  let s = 0;
  while (s < data.length) {
    let cut = Math.min(s + p.max, data.length);
    for (let len = p.min; len < p.max && s + len <= data.length; len++) {
      const m = len < p.avg ? strict : loose;
      if ((windowHash(s + len) & m) >>> 0 === 0) {
        cut = s + len;
        break;
      }
    }
    out.push(cut);
    s = cut;
  }
  return out;
}

describe('chunk parameters', () => {
  it('accepts the defaults', () => {
    expect(DEFAULT_CHUNK_PARAMS).toEqual({ min: 32768, avg: 131072, max: 524288 });
    expect(validateChunkParams(DEFAULT_CHUNK_PARAMS)).toBe(DEFAULT_CHUNK_PARAMS);
    expect(Object.isFrozen(DEFAULT_CHUNK_PARAMS)).toBe(true);
  });

  it.each([
    { min: 64 * KiB, avg: 200 * KiB, max: MiB },
    { min: 256 * KiB, avg: 256 * KiB, max: MiB },
    { min: 64 * KiB, avg: 256 * KiB, max: 256 * KiB },
    { min: 300 * KiB, avg: 256 * KiB, max: MiB },
    { min: 32, avg: 256, max: 1024 },
    { min: 64, avg: 128, max: 1024 },
    { min: 64, avg: 8 * MiB, max: 16 * MiB },
    { min: 64, avg: 256, max: 2 ** 31 },
    { min: 64.5, avg: 256, max: 1024 },
    { min: Number.NaN, avg: 256, max: 1024 },
  ])('rejects %o', (p) => {
    let err: unknown;
    try {
      new CdcScanner(p);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
  });

  it('spreads mask bits over bits 8..31 with bit 31 always set', () => {
    expect(chunkMasks(DEFAULT_CHUNK_PARAMS)).toEqual({ strict: 0xf7bdee00, loose: 0xdadada00 });
    for (let ones = 1; ones <= 24; ones++) {
      const m = spreadMask(ones);
      let count = 0;
      for (let b = 0; b < 32; b++) if ((m >>> b) & 1) count++;
      expect(count).toBe(ones);
      expect(m >>> 31).toBe(1);
      expect(m & 0xff).toBe(0);
    }
    expect(() => spreadMask(25)).toThrow();
  });

  it('derives the gear table from SHA-256 of the seed', () => {
    const gear = gearTableU32();
    expect(gear.length).toBe(256);
    for (const i of [0, 1, 127, 255]) {
      const d = createHash('sha256').update('cairn-gear-v1').update(Uint8Array.of(i)).digest();
      expect(gear[i]).toBe(d.readUInt32BE(0));
    }
    // A copy: callers cannot corrupt the table the scanner uses.
    gear[0] = 0;
    expect(gearTableU32()[0]).not.toBe(0);
  });
});

describe('chunkBuffer', () => {
  it('yields no chunks for empty input', () => {
    expect(chunkBuffer(new Uint8Array(0))).toEqual([]);
    const s = new CdcScanner();
    expect(s.update(new Uint8Array(0))).toEqual([]);
    expect(s.finish()).toEqual([]);
  });

  it('yields one short chunk for input below min', () => {
    expect(chunkBuffer(keystream(1))).toEqual([1]);
    expect(chunkBuffer(keystream(64 * KiB))).toEqual([64 * KiB]);
  });

  it('is deterministic', () => {
    const data = keystream(8 * MiB);
    const a = chunkBuffer(data);
    const b = chunkBuffer(Uint8Array.from(data));
    expect(a).toEqual(b);
    expect(a.at(-1)).toBe(data.length);
  });

  it('keeps every chunk within [min, max], only the last may be shorter', () => {
    for (const [p, size] of [
      [DEFAULT_CHUNK_PARAMS, 24 * MiB],
      [SMALL, 4 * MiB],
      [TINY, 256 * KiB],
    ] as const) {
      const lens = lengths(chunkBuffer(keystream(size + 12345), p));
      expect(lens.length).toBeGreaterThan(5);
      for (const len of lens.slice(0, -1)) {
        expect(len).toBeGreaterThanOrEqual(p.min);
        expect(len).toBeLessThanOrEqual(p.max);
      }
      expect(lens.at(-1)!).toBeLessThanOrEqual(p.max);
    }
  });

  it('matches the from-the-spec reference implementation', () => {
    const inputs: [Uint8Array, ChunkParams][] = [
      [keystream(2 * MiB, 1), SMALL],
      [keystream(128 * KiB, 2), TINY],
      [keystream(600 * KiB, 3), { min: 100, avg: 512, max: 3000 }],
      // Low-entropy input: cuts come from few window values, so any slip in the hash shows.
      [Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(8000)), TINY],
      [Buffer.from(Array.from({ length: 300 * KiB }, (_, k) => ((k * k) >>> 11) & 0xff)), SMALL],
      [new Uint8Array(10 * KiB), TINY],
    ];
    for (const [data, p] of inputs) expect(chunkBuffer(data, p)).toEqual(referenceChunk(data, p));
  });

  it('cuts a run of one byte value into equal chunks', () => {
    // A constant run has a constant window hash, so the same rule fires at the same length
    // in every chunk; for zeros under the defaults that is max.
    const half = MiB / 2;
    expect(chunkBuffer(new Uint8Array(3 * MiB + 5))).toEqual(
      [1, 2, 3, 4, 5, 6].map((k) => k * half).concat([3 * MiB + 5]),
    );
    for (let b = 0; b < 256; b++) {
      const lens = lengths(chunkBuffer(new Uint8Array(40 * KiB).fill(b), TINY));
      const first = lens[0]!;
      expect([TINY.min, TINY.avg, TINY.max]).toContain(first);
      expect(new Set(lens.slice(0, -1))).toEqual(new Set([first]));
    }
  });
});

describe('CdcScanner streaming', () => {
  it('gives the same cuts for random block sizes', () => {
    const data = keystream(4 * MiB + 777, 4);
    const whole = chunkBuffer(data, SMALL);
    const rnd = mulberry32(42);
    for (let trial = 0; trial < 5; trial++) {
      const maxBlock = [7, 1000, 40 * KiB, 300 * KiB, 5 * MiB][trial]!;
      const sizes = (function* () {
        for (;;) yield Math.floor(rnd() * maxBlock);
      })();
      expect(feed(data, sizes, SMALL)).toEqual(whole);
    }
  });

  it('gives the same cuts for 1-byte blocks', () => {
    const data = keystream(96 * KiB, 5);
    const whole = chunkBuffer(data, TINY);
    expect(whole.length).toBeGreaterThan(100);
    expect(feed(data, Array<number>(data.length).fill(1), TINY)).toEqual(whole);
  });

  it('gives the same cuts when blocks end exactly at, just before and just after cuts', () => {
    const data = keystream(3 * MiB, 6);
    const whole = chunkBuffer(data, SMALL);
    for (const delta of [0, -1, 1, -31, -32, 32]) {
      const splits = [...whole.map((c) => c + delta).filter((c) => c > 0 && c < data.length), data.length];
      const sizes = lengths(splits);
      expect(feed(data, sizes, SMALL)).toEqual(whole);
    }
  });

  it('reports a cut at the very end of a block from update, leaving finish empty', () => {
    const s = new CdcScanner(TINY);
    const zeros = new Uint8Array(3 * TINY.max);
    expect(s.update(zeros.subarray(0, TINY.max))).toEqual([1024]);
    expect(s.update(zeros.subarray(TINY.max))).toEqual([2048, 3072]);
    expect(s.position).toBe(3072);
    expect(s.pendingStart).toBe(3072);
    expect(s.finish()).toEqual([]);
    expect(() => s.update(zeros)).toThrow(/after finish/);
  });

  it('tracks where the pending chunk starts', () => {
    const data = keystream(200 * KiB, 7);
    const s = new CdcScanner(SMALL);
    const cuts = s.update(data);
    expect(s.pendingStart).toBe(cuts.at(-1));
    expect(s.finish()).toEqual([data.length]);
  });
});

/** Expected mean length with independent cut chances 2^-strictOnes and 2^-looseOnes. */
function expectedMean(p: ChunkParams): number {
  const bits = Math.log2(p.avg);
  const qs = 1 - 2 ** -(bits + 2);
  const ql = 1 - 2 ** -(bits - 2);
  const geo = (q: number, k: number): number => (q * (1 - q ** k)) / (1 - q);
  return p.min + geo(qs, p.avg - p.min) + qs ** (p.avg - p.min) * geo(ql, p.max - p.avg);
}

describe('chunk size distribution on random data', () => {
  it('averages within 25% of avg with the defaults', () => {
    const scanner = new CdcScanner();
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16));
    const block = Buffer.alloc(16 * MiB);
    const cuts: number[] = [];
    for (let k = 0; k < 16; k++) cuts.push(...scanner.update(cipher.update(block)));
    const mean = cuts.at(-1)! / cuts.length;
    const avg = DEFAULT_CHUNK_PARAMS.avg;
    expect(Math.abs(mean - avg)).toBeLessThan(0.25 * avg);
    expect(Math.abs(mean / expectedMean(DEFAULT_CHUNK_PARAMS) - 1)).toBeLessThan(0.05);
  });

  it('matches the analytic mean closely when there are many chunks', () => {
    const cuts = chunkBuffer(keystream(32 * MiB, 10), SMALL).slice(0, -1);
    const mean = cuts.at(-1)! / cuts.length;
    expect(Math.abs(mean / expectedMean(SMALL) - 1)).toBeLessThan(0.02);
    expect(Math.abs(mean - SMALL.avg)).toBeLessThan(0.25 * SMALL.avg);
  });
});

describe('shift resilience', () => {
  /**
   * Inserts 1 MiB in the middle of a 32 MiB buffer and overwrites 10 scattered 100 KiB
   * regions, then measures how many of the bytes left untouched sit in chunks whose digest
   * also occurs in the original.
   */
  function sharedFraction(p: ChunkParams): number {
    const size = 32 * MiB;
    const original = keystream(size, 11);
    const edited = Buffer.concat([original.subarray(0, size / 2), keystream(MiB, 12), original.subarray(size / 2)]);
    // `fromOriginal[i]` is 1 while byte i of the edited buffer is still the original's.
    const fromOriginal = new Uint8Array(edited.length).fill(1);
    fromOriginal.fill(0, size / 2, size / 2 + MiB);
    const rnd = mulberry32(7);
    const patch = keystream(100 * KiB, 13);
    for (let k = 0; k < 10; k++) {
      // One edit per tenth of the buffer, away from the inserted MiB.
      const slot = edited.length / 10;
      let at = Math.floor(k * slot + rnd() * (slot - 100 * KiB));
      if (at < size / 2 + MiB && at + 100 * KiB > size / 2) at = size / 2 + MiB + 1;
      patch.copy(edited, at);
      fromOriginal.fill(0, at, at + 100 * KiB);
    }
    const digests = (buf: Buffer): string[] => {
      const cuts = chunkBuffer(buf, p);
      return cuts.map((c, k) =>
        createHash('sha256')
          .update(buf.subarray(k === 0 ? 0 : cuts[k - 1]!, c))
          .digest('hex'),
      );
    };
    const known = new Set(digests(original));
    const cuts = chunkBuffer(edited, p);
    let shared = 0;
    let unchanged = 0;
    for (let k = 0; k < cuts.length; k++) {
      const from = k === 0 ? 0 : cuts[k - 1]!;
      const to = cuts[k]!;
      let keep = 0;
      for (let i = from; i < to; i++) keep += fromOriginal[i]!;
      unchanged += keep;
      if (known.has(createHash('sha256').update(edited.subarray(from, to)).digest('hex'))) shared += keep;
    }
    return shared / unchanged;
  }

  it('keeps at least 95% of unchanged bytes in shared chunks at 8 KiB average', () => {
    expect(sharedFraction(SMALL)).toBeGreaterThanOrEqual(0.95);
  });

  it('loses only about the chunks next to each edit with the defaults', () => {
    // 11 edits each cost the chunk(s) around them, ~300 KiB apiece, so on 32 MiB the
    // defaults cannot reach 95%; the bound says resynchronisation happens within a chunk
    // or two rather than drifting.
    expect(sharedFraction(DEFAULT_CHUNK_PARAMS)).toBeGreaterThanOrEqual(0.8);
  });
});
