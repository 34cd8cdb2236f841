import { minhashSignature, nearDuplicatePairs } from '../files/minhash.js';
import { LEAKAGE_SEVERITY, SAMPLE_SIZE, type LeakageFinding } from './report.js';

export interface TextItem {
  id: string;
  text: string;
}

export interface NearDuplicatePair {
  leftSplit: string;
  left: string;
  rightSplit: string;
  right: string;
  jaccard: number;
}

/** Texts compared per split at most, unless told otherwise: MinHash is linear, LSH about so. */
export const DEFAULT_MAX_TEXTS = 20_000;
export const NEAR_DUPLICATE_THRESHOLD = 0.8;

/** Pairs of texts in different splits whose estimated Jaccard similarity reaches the threshold. */
export function crossSplitNearDuplicates(
  bySplit: ReadonlyMap<string, readonly TextItem[]>,
  threshold = NEAR_DUPLICATE_THRESHOLD,
): NearDuplicatePair[] {
  const signed = [...bySplit].map(([split, items]) => ({
    split,
    items: items.map((t) => ({ id: t.id, sig: minhashSignature(t.text) })),
  }));
  const out: NearDuplicatePair[] = [];
  for (let i = 0; i < signed.length; i++) {
    for (let j = i + 1; j < signed.length; j++) {
      const a = signed[i]!;
      const b = signed[j]!;
      if (a.items.length === 0 || b.items.length === 0) continue;
      for (const p of nearDuplicatePairs(a.items, b.items, threshold)) {
        out.push({
          leftSplit: a.split,
          left: String(p.left),
          rightSplit: b.split,
          right: String(p.right),
          jaccard: p.jaccard,
        });
      }
    }
  }
  // The LSH index may return pairs in any order; reports must not.
  return out.sort(
    (x, y) =>
      y.jaccard - x.jaccard ||
      cmp(x.leftSplit, y.leftSplit) ||
      cmp(x.left, y.left) ||
      cmp(x.rightSplit, y.rightSplit) ||
      cmp(x.right, y.right),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function nearDuplicateFinding(
  pairs: readonly NearDuplicatePair[],
  describe: (split: string, id: string) => unknown,
  details: Record<string, unknown>,
): LeakageFinding | null {
  if (pairs.length === 0) return null;
  return {
    kind: 'near-duplicate',
    severity: LEAKAGE_SEVERITY['near-duplicate'],
    count: pairs.length,
    sample: pairs.slice(0, SAMPLE_SIZE).map((p) => ({
      jaccard: Math.round(p.jaccard * 1000) / 1000,
      left: { split: p.leftSplit, item: describe(p.leftSplit, p.left) },
      right: { split: p.rightSplit, item: describe(p.rightSplit, p.right) },
    })),
    message: `${pairs.length} pair${pairs.length === 1 ? '' : 's'} of near-duplicate texts (estimated Jaccard ≥ ${details.threshold ?? NEAR_DUPLICATE_THRESHOLD}) sit in different splits`,
    details,
  };
}
