import { CairnError } from '../../core/errors.js';

/** One named split and its share of the rows, in the order the user gave. */
export interface SplitRatio {
  name: string;
  ratio: number;
}

// A split becomes the last segment of a dataset name (`flights/train`), so it follows that rule.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NUMBER = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
/** Leakage checks keep the splits a value is in as bits of a 64-bit integer. */
export const MAX_SPLITS = 63;
const HINT =
  'write the splits as name=ratio pairs separated by commas, with ratios above 0 that sum to 1, e.g. train=0.8,test=0.2';

/** Reads `train=0.8,test=0.2`. */
export function parseRatios(text: string): SplitRatio[] {
  const usage = (message: string, data: Record<string, unknown> = {}) =>
    new CairnError('USAGE', message, { hint: HINT, data: { ratios: text, ...data } });
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length < 2 || parts.some((p) => p === ''))
    throw usage(`--ratios ${JSON.stringify(text)} needs at least two splits`);
  if (parts.length > MAX_SPLITS)
    throw usage(`--ratios names ${parts.length} splits; at most ${MAX_SPLITS} are supported`);
  const out: SplitRatio[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw usage(`--ratios: ${JSON.stringify(part)} is not of the form name=ratio`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!NAME.test(name) || name.endsWith('.') || name.includes('..') || name.length > 64) {
      throw usage(
        `--ratios: ${JSON.stringify(name)} is not a valid split name (letters, digits, . _ -, starting with a letter or digit)`,
        { name },
      );
    }
    if (out.some((r) => r.name === name))
      throw usage(`--ratios names the split ${JSON.stringify(name)} twice`, { name });
    const ratio = NUMBER.test(value) ? Number(value) : NaN;
    if (!(ratio > 0) || !Number.isFinite(ratio))
      throw usage(
        `--ratios: the ratio of ${JSON.stringify(name)} must be a number above 0, not ${JSON.stringify(value)}`,
        { name },
      );
    out.push({ name, ratio });
  }
  checkRatios(out);
  return out;
}

/** Validates ratios given as data (the same rules as the text form). */
export function checkRatios(ratios: readonly SplitRatio[]): void {
  const sum = ratios.reduce((s, r) => s + r.ratio, 0);
  if (
    ratios.length < 2 ||
    ratios.length > MAX_SPLITS ||
    ratios.some((r) => !(r.ratio > 0) || !NAME.test(r.name)) ||
    new Set(ratios.map((r) => r.name)).size !== ratios.length
  ) {
    throw new CairnError(
      'USAGE',
      `the split ratios need 2 to ${MAX_SPLITS} uniquely and validly named splits, each above 0`,
      { hint: HINT, data: { ratios } },
    );
  }
  if (Math.abs(sum - 1) > 1e-9) {
    throw new CairnError('USAGE', `the split ratios sum to ${sum}, not 1`, { hint: HINT, data: { ratios, sum } });
  }
}

/**
 * The cumulative ratio of each split, summed left to right in double precision, as the split
 * hash specifies. The last split takes whatever the rounding of the others leaves, so ratios
 * that sum to 1 − 1e-10 still place every row.
 */
export function cumulativeRatios(ratios: readonly SplitRatio[]): number[] {
  let acc = 0;
  return ratios.map((r, i) => (i === ratios.length - 1 ? Infinity : (acc += r.ratio)));
}

/**
 * Largest-remainder apportionment of `n` items over the ratios: each split gets ⌊n·r⌋, and
 * the items left over go one each to the splits with the largest fractional parts (earlier
 * splits first on ties). Every count is within one of n·r, and the counts sum to n.
 */
export function largestRemainder(n: number, ratios: readonly SplitRatio[]): number[] {
  const exact = ratios.map((r) => n * r.ratio);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((s, c) => s + c, 0);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) counts[order[k]!.i]! += 1;
  // Ratios summing to slightly over 1 can over-allocate by a row; take it back from the end.
  for (let i = counts.length - 1; left < 0 && i >= 0; i--) {
    const take = Math.min(counts[i]!, -left);
    counts[i]! -= take;
    left += take;
  }
  return counts;
}

/** Running totals of the quotas: split i takes ranks in [bounds[i-1], bounds[i]). */
export function cumulativeCounts(quotas: readonly number[]): number[] {
  let acc = 0;
  return quotas.map((q) => (acc += q));
}
