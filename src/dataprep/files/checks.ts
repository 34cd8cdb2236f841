import { compareNames } from '../../storage/tree/node.js';
import type { PiiKind } from '../pii/patterns.js';
import { addCounts, totalCount, zeroCounts } from '../pii/scan.js';
import { passes, type CheckResult, type ValidationReport } from '../validation-report.js';
import type { FileCheck } from '../spec-files/suite.js';
import { extensionOf } from './detect.js';
import { scanLabels, type LabelScan } from './labels.js';
import { probeFile, type Probe, type ProbeNeeds } from './probe.js';
import { mapLimit, type FileInfo, type ReadFile } from './source.js';

export type { FileInfo, ReadFile } from './source.js';
export { labelsOf } from './labels.js';

/** At most this many offending files per failed check. */
export const SAMPLE_SIZE = 10;

export interface FileCheckOptions {
  /** The suite's name and the version checked, for the report. */
  suite: string;
  target: string;
  /** Files read at once; default 8. */
  concurrency?: number;
}

export interface FileSample {
  path: string;
  reason: string;
  /** Masked PII values (pii check only). */
  values?: string[];
}

type Check<K extends FileCheck['kind']> = Extract<FileCheck, { kind: K }>;

/**
 * Runs the `files:` checks of a suite over a version's listing. Every file is read at most
 * once, by one probe that answers all checks (see probe.ts); `duplicates` and `size` need no
 * bytes. A failing `read` aborts the run: a report must not pass files it could not see.
 */
export async function runFileChecks(
  files: FileInfo[],
  checks: FileCheck[],
  read: ReadFile,
  opts: FileCheckOptions,
): Promise<ValidationReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const needType = checks.some((c) => c.kind === 'types');
  const needDecode = checks.some((c) => c.kind === 'decodable');
  const piiChecks = checks.filter((c): c is Check<'pii'> => c.kind === 'pii');
  // Labels first: a manifest is read before the probes, and a broken one is reported, not thrown.
  const labelScans = new Map<Check<'labels'>, LabelScan | Error>();
  for (const c of checks) {
    if (c.kind !== 'labels') continue;
    try {
      labelScans.set(c, await scanLabels(files, c, read));
    } catch (err) {
      labelScans.set(c, err as Error);
    }
  }
  const needsOf = (f: FileInfo): ProbeNeeds => {
    const ext = extensionOf(f.path);
    return {
      type: needType,
      decode: needDecode,
      scans: piiChecks.filter((c) => c.extensions.includes(ext)).map((c) => c.kinds),
      redactions: [],
    };
  };
  const probes = await mapLimit(files, opts.concurrency ?? 8, (f) => probeFile(f, read, needsOf(f)));
  const results = checks.map((c): CheckResult => {
    switch (c.kind) {
      case 'types':
        return typesCheck(c, files, probes);
      case 'size':
        return sizeCheck(c, files);
      case 'decodable':
        return decodableCheck(c, files, probes);
      case 'duplicates':
        return duplicatesCheck(c, files);
      case 'labels':
        return labelsCheck(c, files, labelScans.get(c) as LabelScan | Error);
      case 'pii':
        return piiCheck(c, files, probes, piiChecks);
    }
  });
  const failedOf = (s: 'error' | 'warn') => results.filter((r) => r.status !== 'passed' && r.severity === s).length;
  return {
    format: 'cairn.validation/v1',
    suite: opts.suite,
    target: opts.target,
    kind: 'files',
    size: files.length,
    ok: failedOf('error') === 0,
    errors: failedOf('error'),
    warnings: failedOf('warn'),
    checks: results,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
  };
}

function result(
  c: FileCheck,
  evaluated: number,
  bad: FileSample[],
  what: string,
  details: Record<string, unknown>,
  failedCount = bad.length,
): CheckResult {
  const ok = passes(failedCount, evaluated, c.mostly);
  const percent = evaluated === 0 ? 0 : Math.round((failedCount / evaluated) * 10000) / 100;
  const message =
    failedCount === 0
      ? `all ${evaluated} ${plural(evaluated, 'file')} passed`
      : `${failedCount} of ${evaluated} ${plural(evaluated, 'file')} (${percent}%) ${what}${ok ? `, within mostly ${c.mostly}` : ''}`;
  return {
    name: c.name,
    kind: c.kind,
    severity: c.severity,
    line: c.line,
    status: ok ? 'passed' : 'failed',
    evaluated,
    failed: failedCount,
    percent,
    mostly: c.mostly,
    message,
    sample: ok ? [] : bad.slice(0, SAMPLE_SIZE),
    details,
  };
}

const plural = (n: number, w: string) => (n === 1 ? w : `${w}s`);

function typesCheck(c: Check<'types'>, files: FileInfo[], probes: Probe[]): CheckResult {
  const bad: FileSample[] = [];
  const types: Record<string, number> = {};
  files.forEach((f, i) => {
    const p = probes[i] as Probe;
    // Unrecognized bytes that do not look binary are text in some legacy encoding: a known
    // kind of content, whose UTF-8 trouble is the decodable check's to report.
    const t = p.detected ?? (p.binary ? 'unknown' : 'text');
    types[t] = (types[t] ?? 0) + 1;
    if (p.mismatch) bad.push({ path: f.path, reason: p.mismatch });
    else if (!c.allowUnknown && t === 'unknown') bad.push({ path: f.path, reason: 'content of an unrecognized type' });
  });
  return result(c, files.length, bad, 'have content that contradicts their extension', { types: sortedRecord(types) });
}

function sizeCheck(c: Check<'size'>, files: FileInfo[]): CheckResult {
  const bad: FileSample[] = [];
  for (const f of files) {
    if (c.min !== undefined && f.size < c.min)
      bad.push({ path: f.path, reason: `${f.size} bytes, below the minimum of ${c.min}` });
    else if (c.max !== undefined && f.size > c.max)
      bad.push({ path: f.path, reason: `${f.size} bytes, above the maximum of ${c.max}` });
  }
  const sizes = files.map((f) => f.size);
  return result(c, files.length, bad, 'are outside the size bounds', {
    ...(c.min !== undefined ? { min: c.min } : {}),
    ...(c.max !== undefined ? { max: c.max } : {}),
    smallest: sizes.length ? Math.min(...sizes) : null,
    largest: sizes.length ? Math.max(...sizes) : null,
  });
}

function decodableCheck(c: Check<'decodable'>, files: FileInfo[], probes: Probe[]): CheckResult {
  const bad: FileSample[] = [];
  const byType: Record<string, { checked: number; failed: number }> = {};
  let evaluated = 0;
  files.forEach((f, i) => {
    const p = probes[i] as Probe;
    if (!p.decodedAs || !p.decode) return;
    evaluated++;
    const t = (byType[p.decodedAs] ??= { checked: 0, failed: 0 });
    t.checked++;
    if (!p.decode.ok) {
      t.failed++;
      bad.push({ path: f.path, reason: `${p.decodedAs}: ${p.decode.reason}` });
    }
  });
  return result(c, evaluated, bad, 'do not decode', {
    byType: sortedRecord(byType),
    notChecked: files.length - evaluated,
  });
}

function duplicatesCheck(c: Check<'duplicates'>, files: FileInfo[]): CheckResult {
  const byDigest = new Map<string, string[]>();
  for (const f of files) {
    const list = byDigest.get(f.digest);
    if (list) list.push(f.path);
    else byDigest.set(f.digest, [f.path]);
  }
  const bad: FileSample[] = [];
  let groups = 0;
  for (const paths of byDigest.values()) {
    if (paths.length < 2) continue;
    groups++;
    // The first path in byte order is the original, as drop_duplicates keeps it.
    const [first, ...rest] = [...paths].sort(compareNames);
    for (const p of rest) bad.push({ path: p, reason: `same content as ${first}` });
  }
  bad.sort((a, b) => compareNames(a.path, b.path));
  return result(c, files.length, bad, 'duplicate another file', { groups, duplicates: bad.length });
}

function labelsCheck(c: Check<'labels'>, files: FileInfo[], scan: LabelScan | Error): CheckResult {
  if (scan instanceof Error) {
    return {
      name: c.name,
      kind: c.kind,
      severity: c.severity,
      line: c.line,
      status: 'error',
      evaluated: 0,
      failed: 0,
      percent: 0,
      mostly: c.mostly,
      message: scan.message,
      sample: [],
    };
  }
  const counts: Record<string, number> = {};
  const bad: FileSample[] = [];
  let evaluated = 0;
  let unlabelled = 0;
  let notAllowed = 0;
  for (const f of files) {
    if (f.path === scan.manifest) continue;
    evaluated++;
    const conflict = scan.conflicts.get(f.path);
    if (conflict) {
      bad.push({ path: f.path, reason: `the manifest gives it ${conflict.length} labels: ${conflict.join(', ')}` });
      continue;
    }
    const label = scan.labels.get(f.path);
    if (label === undefined) {
      unlabelled++;
      if (c.required)
        bad.push({ path: f.path, reason: scan.manifest ? `not in ${scan.manifest}` : 'not inside a folder' });
      continue;
    }
    counts[label] = (counts[label] ?? 0) + 1;
    if (c.allowed && !c.allowed.includes(label)) {
      notAllowed++;
      bad.push({ path: f.path, reason: `label ${JSON.stringify(label)} is not one of ${c.allowed.join(', ')}` });
    }
  }
  return result(c, evaluated, bad, 'lack an allowed label', {
    source: scan.manifest ?? 'folder',
    labels: sortedRecord(counts),
    unlabelled,
    notAllowed,
    conflicts: scan.conflicts.size,
    // Manifest lines naming no file: reported, not failed — the files are what is checked.
    unknownPaths: scan.unknown.length,
    ...(scan.unknown.length ? { unknownSample: scan.unknown.slice(0, SAMPLE_SIZE) } : {}),
  });
}

function piiCheck(c: Check<'pii'>, files: FileInfo[], probes: Probe[], piiChecks: Array<Check<'pii'>>): CheckResult {
  const index = piiChecks.indexOf(c);
  const totals = zeroCounts();
  const bad: FileSample[] = [];
  let evaluated = 0;
  files.forEach((f, i) => {
    if (!c.extensions.includes(extensionOf(f.path))) return;
    // A probe scans once per pii check that applies to the file, in suite order.
    const ext = extensionOf(f.path);
    const at = piiChecks.slice(0, index).filter((p) => p.extensions.includes(ext)).length;
    const s = (probes[i] as Probe).scans[at];
    if (!s) return;
    evaluated++;
    addCounts(totals, s.counts);
    if (totalCount(s.counts) > 0) {
      const parts = (Object.entries(s.counts) as Array<[PiiKind, number]>)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} ${k}`);
      bad.push({ path: f.path, reason: parts.join(', '), values: s.samples });
    }
  });
  return result(c, evaluated, bad, 'contain PII', { counts: totals, files: bad.length });
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
