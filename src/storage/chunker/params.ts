import { CairnError } from '../../core/errors.js';

/**
 * Chunk size limits in bytes. `avg` is FastCDC's "normal size": the length at which the
 * chunker switches from the strict mask to the loose one, not the exact mean (see
 * docs/chunking.md for the expected mean).
 */
export interface ChunkParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

// 32 KiB / 128 KiB / 512 KiB (mean ≈ 146 KiB): a 1 % edit in ten places plus a 1 MiB insert in
// a 1 GiB file stores ≈ 1.46× the changed bytes (64/256/1024 stored ≈ 1.69×, restic ≈ 3.4×),
// while a 1 GiB file is still only ~7,200 chunks. Chosen before format v1 was released.
export const DEFAULT_CHUNK_PARAMS: ChunkParams = Object.freeze({
  min: 32 * 1024,
  avg: 128 * 1024,
  max: 512 * 1024,
});

/** Number of trailing bytes the rolling hash depends on; 32 because the state is 32 bits wide. */
export const WINDOW_SIZE = 32;

/** Masks are built only from bits 8..31, so every tested bit depends on at least 9 bytes. */
const MASK_SPAN = 24;

/**
 * Normalization level 2: the strict mask has log2(avg)+2 one-bits, the loose one log2(avg)-2.
 * The bounds on avg keep both counts within 1..MASK_SPAN.
 */
const NORMALIZATION = 2;
const MIN_AVG_BITS = 8;
const MAX_AVG_BITS = MASK_SPAN - NORMALIZATION;
const MIN_MIN = 64;
/** Keeps every chunk-relative index a small integer and every chunk addressable as one buffer. */
const MAX_MAX = 2 ** 30;

export interface ChunkMasks {
  /** Tested while the chunk would be shorter than `avg`. */
  readonly strict: number;
  /** Tested from `avg` up to (not including) `max`. */
  readonly loose: number;
}

/**
 * `ones` one-bits spread evenly over bits 8..31, always including bit 31 so the effective
 * window is the full 32 bytes: bit positions 31 - floor(j * 24 / ones) for j = 0..ones-1.
 * Returned as an unsigned 32-bit number.
 */
export function spreadMask(ones: number): number {
  if (!Number.isInteger(ones) || ones < 1 || ones > MASK_SPAN) {
    throw new CairnError('INVALID_INPUT', `a chunk mask needs 1..${MASK_SPAN} one-bits, got ${ones}`);
  }
  let mask = 0;
  for (let j = 0; j < ones; j++) mask |= 1 << (31 - Math.floor((j * MASK_SPAN) / ones));
  return mask >>> 0;
}

export function chunkMasks(params: ChunkParams): ChunkMasks {
  const bits = Math.log2(params.avg);
  return { strict: spreadMask(bits + NORMALIZATION), loose: spreadMask(bits - NORMALIZATION) };
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Throws INVALID_INPUT unless the parameters are usable; returns them unchanged for chaining. */
export function validateChunkParams(params: ChunkParams): ChunkParams {
  const { min, avg, max } = params;
  const bad = (why: string): never => {
    throw new CairnError('INVALID_INPUT', `invalid chunk parameters ${JSON.stringify({ min, avg, max })}: ${why}`, {
      hint: `need integers with ${MIN_MIN} <= min < avg < max <= ${MAX_MAX} and avg a power of two from 2^${MIN_AVG_BITS} to 2^${MAX_AVG_BITS}`,
    });
  };
  if (![min, avg, max].every((n) => Number.isSafeInteger(n))) bad('sizes must be integers');
  if (!isPowerOfTwo(avg)) bad('avg must be a power of two');
  const bits = Math.log2(avg);
  if (bits < MIN_AVG_BITS || bits > MAX_AVG_BITS) bad(`avg must be between 2^${MIN_AVG_BITS} and 2^${MAX_AVG_BITS}`);
  if (min < MIN_MIN) bad(`min must be at least ${MIN_MIN}`);
  if (!(min < avg && avg < max)) bad('need min < avg < max');
  if (max > MAX_MAX) bad(`max must be at most ${MAX_MAX}`);
  return params;
}
