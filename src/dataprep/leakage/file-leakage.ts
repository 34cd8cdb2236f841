import { createHash } from 'node:crypto';
import type { SplitFile } from '../split/split-files.js';
import {
  crossSplitNearDuplicates,
  DEFAULT_MAX_TEXTS,
  NEAR_DUPLICATE_THRESHOLD,
  nearDuplicateFinding,
  type TextItem,
} from './near-duplicates.js';
import {
  LEAKAGE_SEVERITY,
  leakageReport,
  SAMPLE_SIZE,
  type LeakageFinding,
  type LeakageKind,
  type LeakageReport,
} from './report.js';

export interface FileLeakageOptions {
  /**
   * A file's text for near-duplicate detection, or null to leave it out (binary files). When
   * absent, near-duplicates are not checked.
   */
  read?: (file: SplitFile) => Promise<string | null> | string | null;
  /** Report groups found in more than one split (files without a group are not compared). */
  group?: boolean;
  /** Texts compared per split at most (default 20,000): a deterministic sample by digest. */
  maxTexts?: number;
  threshold?: number;
}

/** Leakage between the splits of a file collection, in split order. */
export async function fileLeakage(
  splits: ReadonlyMap<string, readonly SplitFile[]>,
  opts: FileLeakageOptions = {},
): Promise<LeakageReport> {
  const checked: LeakageKind[] = ['exact-duplicate'];
  const findings: Array<LeakageFinding | null> = [sameValueAcross(splits, 'exact-duplicate', (f) => f.digest)];
  if (opts.group) {
    checked.push('group-overlap');
    findings.push(sameValueAcross(splits, 'group-overlap', (f) => f.group ?? null));
  }
  if (opts.read) {
    checked.push('near-duplicate');
    findings.push(
      await nearDuplicateFiles(
        splits,
        opts.read,
        opts.maxTexts ?? DEFAULT_MAX_TEXTS,
        opts.threshold ?? NEAR_DUPLICATE_THRESHOLD,
      ),
    );
  }
  return leakageReport(
    checked,
    findings.filter((f): f is LeakageFinding => f !== null),
  );
}

function sameValueAcross(
  splits: ReadonlyMap<string, readonly SplitFile[]>,
  kind: 'exact-duplicate' | 'group-overlap',
  valueOf: (f: SplitFile) => string | null,
): LeakageFinding | null {
  const where = new Map<string, Map<string, string[]>>();
  for (const [split, files] of splits) {
    for (const f of files) {
      const v = valueOf(f);
      if (v === null) continue;
      const bySplit = where.get(v) ?? new Map<string, string[]>();
      bySplit.set(split, [...(bySplit.get(split) ?? []), f.path]);
      where.set(v, bySplit);
    }
  }
  const leaks = [...where].filter(([, bySplit]) => bySplit.size > 1).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (leaks.length === 0) return null;
  const files = leaks.reduce((n, [, bySplit]) => n + [...bySplit.values()].reduce((m, p) => m + p.length, 0), 0);
  const label = kind === 'exact-duplicate' ? 'digest' : 'group';
  return {
    kind,
    severity: LEAKAGE_SEVERITY[kind],
    count: leaks.length,
    sample: leaks.slice(0, SAMPLE_SIZE).map(([value, bySplit]) => ({
      [label]: value,
      splits: Object.fromEntries([...bySplit].map(([s, paths]) => [s, paths.slice(0, SAMPLE_SIZE)])),
    })),
    message:
      kind === 'exact-duplicate'
        ? `${leaks.length} file content${leaks.length === 1 ? '' : 's'} (by digest; ${files} files in all) appear in more than one split`
        : `${leaks.length} group${leaks.length === 1 ? '' : 's'} (${files} files) appear in more than one split`,
    details: { files },
  };
}

async function nearDuplicateFiles(
  splits: ReadonlyMap<string, readonly SplitFile[]>,
  read: NonNullable<FileLeakageOptions['read']>,
  maxTexts: number,
  threshold: number,
): Promise<LeakageFinding | null> {
  const bySplit = new Map<string, TextItem[]>();
  const digestOf = new Map<string, string>();
  const compared: Record<string, { files: number; compared: number }> = {};
  for (const [split, files] of splits) {
    // A sample that does not depend on file order: the smallest digests (of the path, so
    // identical contents are not all sampled or all skipped together).
    const chosen = [...files]
      .map((f) => ({ f, rank: createHash('sha256').update(f.path).digest('hex') }))
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
      .slice(0, Math.max(0, Math.floor(maxTexts)))
      .map((x) => x.f);
    const items: TextItem[] = [];
    for (const f of chosen) {
      const text = await read(f);
      if (text === null) continue;
      items.push({ id: f.path, text });
      digestOf.set(f.path, f.digest);
    }
    bySplit.set(split, items);
    compared[split] = { files: files.length, compared: items.length };
  }
  // Identical files are already an exact-duplicate error; do not report them twice.
  const pairs = crossSplitNearDuplicates(bySplit, threshold).filter(
    (p) => digestOf.get(p.left) !== digestOf.get(p.right),
  );
  return nearDuplicateFinding(pairs, (_split, id) => id, { threshold, maxTexts, splits: compared });
}
