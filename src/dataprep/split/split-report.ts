import type { LeakageReport } from '../leakage/report.js';
import type { SplitRatio } from './ratios.js';

export type SplitMode = 'hash' | 'group' | 'stratified' | 'time';

/** Class shares (fractions of rows, 0..1) overall and per split, for stratified splits. */
export interface ClassRatios {
  /** The stratify column (for file collections: `label`). */
  column: string;
  overall: Record<string, number>;
  bySplit: Record<string, Record<string, number>>;
  /** The largest |share in a split − share overall| over every class and split, in percentage points. */
  maxDeviationPoints: number;
  /** Classes left out of `overall`/`bySplit` (only the 1,000 largest are listed); the deviation covers all. */
  omitted: number;
}

/** Stored with a split: what was asked, what came out, and what leaks. */
export interface SplitReport {
  format: 'cairn.split/v1';
  kind: 'table' | 'files';
  mode: SplitMode;
  options: {
    ratios: SplitRatio[];
    seed: number;
    key: string[] | null;
    stratify: string | null;
    group: string | null;
    time: string | null;
    cutoff: string | null;
  };
  /** Rows (or files) split. */
  rows: number;
  splits: Array<{ name: string; ratio: number; rows: number; fraction: number }>;
  /** Time splits: the last time of each split but the last, as DuckDB writes it. */
  cutoffs?: Array<string | null>;
  classes?: ClassRatios;
  leakage: LeakageReport;
}

/** A class that is NULL (or a file without a label) is listed under this name. */
export const NULL_CLASS = '<null>';
const LISTED_CLASSES = 1000;

/** Class shares from counts of (class, split index). */
export function classRatios(
  column: string,
  names: readonly string[],
  counts: ReadonlyArray<{ cls: string | null; split: number; n: number }>,
): ClassRatios {
  const total = counts.reduce((s, c) => s + c.n, 0);
  const perSplit = names.map((_, i) => counts.filter((c) => c.split === i).reduce((s, c) => s + c.n, 0));
  const perClass = new Map<string, number[]>();
  for (const c of counts) {
    const k = c.cls ?? NULL_CLASS;
    const row = perClass.get(k) ?? names.map(() => 0);
    row[c.split]! += c.n;
    perClass.set(k, row);
  }
  let maxDev = 0;
  for (const row of perClass.values()) {
    const all = row.reduce((s, n) => s + n, 0) / (total || 1);
    row.forEach((n, i) => {
      if (perSplit[i]! > 0) maxDev = Math.max(maxDev, Math.abs(n / perSplit[i]! - all) * 100);
    });
  }
  const listed = [...perClass]
    .sort(([a, x], [b, y]) => y.reduce((s, n) => s + n, 0) - x.reduce((s, n) => s + n, 0) || (a < b ? -1 : 1))
    .slice(0, LISTED_CLASSES);
  const overall: Record<string, number> = {};
  const bySplit: Record<string, Record<string, number>> = Object.fromEntries(names.map((n) => [n, {}]));
  for (const [k, row] of listed) {
    overall[k] = row.reduce((s, n) => s + n, 0) / (total || 1);
    row.forEach((n, i) => (bySplit[names[i]!]![k] = perSplit[i]! > 0 ? n / perSplit[i]! : 0));
  }
  return { column, overall, bySplit, maxDeviationPoints: maxDev, omitted: perClass.size - listed.length };
}

export function splitSummary(ratios: readonly SplitRatio[], rowsPerSplit: readonly number[]): SplitReport['splits'] {
  const total = rowsPerSplit.reduce((s, n) => s + n, 0);
  return ratios.map((r, i) => ({
    name: r.name,
    ratio: r.ratio,
    rows: rowsPerSplit[i] ?? 0,
    fraction: total ? (rowsPerSplit[i] ?? 0) / total : 0,
  }));
}
