import { CairnError } from '../../core/errors.js';
import type { LeakageReport } from '../leakage/report.js';
import { checkRatios, cumulativeCounts, largestRemainder, type SplitRatio } from './ratios.js';
import { checkSeed, splitHashInt, splitIndexOf, splitKeyText, POSITION_SCALE } from './position.js';
import { classRatios, splitSummary, type SplitReport } from './split-report.js';

export interface SplitFile {
  /** Path inside the version, `/`-separated. */
  path: string;
  digest: string;
  size: number;
  label?: string;
  group?: string;
}

export interface FileSplitOptions {
  ratios: SplitRatio[];
  seed?: number;
  /** Keep each label's share equal in every split. */
  stratify?: boolean;
  /** Hash the file's group instead of its path, so a group is never split. */
  group?: boolean;
}

/**
 * Splits a file collection by the documented hash. A file's key is a one-column key holding
 * its path (or its group; a file without one is in the NULL group), so a manifest table split
 * with `--key path` lands every row where its file lands. Pure: same input, same output.
 */
export function splitFiles<F extends SplitFile>(files: readonly F[], opts: FileSplitOptions): Map<string, F[]> {
  checkRatios(opts.ratios);
  const seed = checkSeed(opts.seed ?? 0);
  if (opts.stratify && opts.group) {
    throw new CairnError('USAGE', 'a split cannot be both stratified and grouped', {
      hint: 'choose --stratify or --group',
    });
  }
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path))
      throw new CairnError('INVALID_INPUT', `the file ${JSON.stringify(f.path)} is listed twice`, {
        data: { path: f.path },
      });
    seen.add(f.path);
  }
  const keyed = files.map((f) => ({
    f,
    v: splitHashInt(seed, splitKeyText([opts.group ? (f.group ?? null) : f.path])),
  }));
  const out = new Map<string, F[]>(opts.ratios.map((r) => [r.name, []]));
  const names = opts.ratios.map((r) => r.name);
  if (opts.stratify) {
    const byLabel = new Map<string | null, typeof keyed>();
    for (const k of keyed) {
      const label = k.f.label ?? null;
      byLabel.set(label, [...(byLabel.get(label) ?? []), k]);
    }
    for (const members of byLabel.values()) {
      const index = stratifiedIndexes(
        members.map((m) => m.v),
        opts.ratios,
      );
      members.forEach((m, i) => out.get(names[index[i]!]!)!.push(m.f));
    }
  } else {
    for (const k of keyed) out.get(names[splitIndexOf(k.v / POSITION_SCALE, opts.ratios)]!)!.push(k.f);
  }
  for (const list of out.values()) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/**
 * The stratified rule for one class: members ordered by hash, the first quota to the first
 * split and so on, where quotas are the class size apportioned by largest remainder. A member
 * goes where the count of members strictly before it falls, so equal hashes (equal keys)
 * always stay together.
 */
export function stratifiedIndexes(hashes: readonly number[], ratios: readonly SplitRatio[]): number[] {
  const quotas = largestRemainder(hashes.length, ratios);
  const bounds = cumulativeCounts(quotas);
  const order = hashes.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const out = new Array<number>(hashes.length);
  let rank = 0;
  for (let k = 0; k < order.length; k++) {
    if (k > 0 && order[k]!.v !== order[k - 1]!.v) rank = k;
    out[order[k]!.i] = indexForRank(rank, bounds);
  }
  return out;
}

function indexForRank(rank: number, bounds: readonly number[]): number {
  const i = bounds.findIndex((b) => rank < b);
  return i < 0 ? bounds.length - 1 : i;
}

/** The report stored with a file collection's split, in the shape tables use (rows are files). */
export function fileSplitReport(
  splits: ReadonlyMap<string, readonly SplitFile[]>,
  opts: FileSplitOptions,
  leakage: LeakageReport,
): SplitReport {
  const names = opts.ratios.map((r) => r.name);
  const lists = names.map((n) => splits.get(n) ?? []);
  const report: SplitReport = {
    format: 'cairn.split/v1',
    kind: 'files',
    mode: opts.stratify ? 'stratified' : opts.group ? 'group' : 'hash',
    options: {
      ratios: opts.ratios,
      seed: opts.seed ?? 0,
      key: null,
      stratify: opts.stratify ? 'label' : null,
      group: opts.group ? 'group' : null,
      time: null,
      cutoff: null,
    },
    rows: lists.reduce((s, l) => s + l.length, 0),
    splits: splitSummary(
      opts.ratios,
      lists.map((l) => l.length),
    ),
    leakage,
  };
  if (opts.stratify) {
    const counts = new Map<string, { cls: string | null; split: number; n: number }>();
    lists.forEach((files, split) => {
      for (const f of files) {
        const k = `${split}\u0000${f.label ?? ''}\u0000${f.label === undefined ? 0 : 1}`;
        const c = counts.get(k) ?? { cls: f.label ?? null, split, n: 0 };
        c.n++;
        counts.set(k, c);
      }
    });
    report.classes = classRatios('label', names, [...counts.values()]);
  }
  return report;
}
