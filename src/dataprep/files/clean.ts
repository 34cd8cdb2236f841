import { compareNames } from '../../storage/tree/node.js';
import type { PiiKind } from '../pii/patterns.js';
import { addCounts, totalCount, zeroCounts } from '../pii/scan.js';
import type { FileStep } from '../spec-files/recipe.js';
import { extensionOf } from './detect.js';
import { globToRegExp, matchesAny } from './glob.js';
import { probeFile, type Probe, type ProbeNeeds } from './probe.js';
import { mapLimit, type FileInfo, type ReadFile } from './source.js';

export interface DroppedFile {
  path: string;
  reason: string;
  /** Index of the step in the recipe's `files:` list. */
  step: number;
}

export interface RedactedFile {
  path: string;
  /** The new content; store it as a new blob (its SHA-256 is the kept entry's digest). */
  bytes: Buffer;
  /** What was replaced, over all redact_pii steps. */
  counts: Record<PiiKind, number>;
}

export interface FileCleanStepReport {
  step: number;
  kind: FileStep['kind'];
  filesIn: number;
  filesOut: number;
  details: Record<string, unknown>;
}

export interface FileCleanPlan {
  /** The files of the output, in input order; redacted ones with their new size and digest. */
  keep: FileInfo[];
  dropped: DroppedFile[];
  redacted: RedactedFile[];
  report: { steps: FileCleanStepReport[] };
}

export interface FileCleanOptions {
  /** Files read at once; default 8. */
  concurrency?: number;
}

/**
 * Plans a cleaning of a file collection: which files survive each step, and the new bytes of
 * the files redact_pii changed. Nothing is written: the caller stores the redacted bytes and
 * records the new version (unchanged files keep their digests).
 *
 * Each file is probed once, when the first step needing its bytes reaches it, and the probe
 * answers every later step too (files dropped before then are never read). Redaction keeps
 * file types and validity (matches are ASCII, replaced by ASCII tokens), so drop_invalid's
 * verdicts hold before and after it; sizes and digests follow the redacted bytes.
 */
export async function planFileClean(
  files: FileInfo[],
  steps: FileStep[],
  read: ReadFile,
  opts: FileCleanOptions = {},
): Promise<FileCleanPlan> {
  const redactSteps = steps.filter((s): s is Extract<FileStep, { kind: 'redact_pii' }> => s.kind === 'redact_pii');
  const decode = steps.some((s) => s.kind === 'drop_invalid' && s.checks.includes('decodable'));
  const type = steps.some((s) => s.kind === 'drop_invalid' && s.checks.includes('types'));
  const needsOf = (f: FileInfo): ProbeNeeds => {
    const ext = extensionOf(f.path);
    return {
      type,
      decode,
      scans: [],
      redactions: redactSteps.filter((s) => s.extensions.includes(ext)).map((s) => s.kinds),
    };
  };
  // Probes read the input bytes, whatever the steps did since.
  const inputs = new Map(files.map((f) => [f.path, f]));
  const original = (f: FileInfo) => inputs.get(f.path) as FileInfo;
  const probes = new Map<string, Promise<Probe>>();
  const probe = (f: FileInfo) => {
    let p = probes.get(f.path);
    if (!p) {
      p = probeFile(f, read, needsOf(f));
      probes.set(f.path, p);
    }
    return p;
  };
  const limit = opts.concurrency ?? 8;

  // The current state of each surviving file: its entry after the redactions so far.
  let current: FileInfo[] = files.map((f) => ({ ...f }));
  const dropped: DroppedFile[] = [];
  const reports: FileCleanStepReport[] = [];
  const redactedCounts = new Map<string, Record<PiiKind, number>>();

  for (let si = 0; si < steps.length; si++) {
    const step = steps[si] as FileStep;
    const filesIn = current.length;
    let details: Record<string, unknown>;
    if (step.kind === 'select') {
      // Which files belong in the data at all (e.g. only the e-mails, not the package's index files).
      const include = (step.include ?? ['**']).map(globToRegExp);
      const exclude = (step.exclude ?? []).map(globToRegExp);
      const survivors: FileInfo[] = [];
      for (const f of current) {
        if (matchesAny(f.path, include) && !matchesAny(f.path, exclude)) survivors.push(f);
        else dropped.push({ path: f.path, reason: 'not selected', step: si });
      }
      details = { dropped: filesIn - survivors.length };
      current = survivors;
    } else if (step.kind === 'drop_duplicates') {
      const byDigest = new Map<string, FileInfo>();
      for (const f of current) {
        const kept = byDigest.get(f.digest);
        if (!kept || compareNames(f.path, kept.path) < 0) byDigest.set(f.digest, f);
      }
      const survivors: FileInfo[] = [];
      for (const f of current) {
        const kept = byDigest.get(f.digest) as FileInfo;
        if (kept === f) survivors.push(f);
        else dropped.push({ path: f.path, reason: `duplicate of ${kept.path}`, step: si });
      }
      details = { dropped: filesIn - survivors.length };
      current = survivors;
    } else if (step.kind === 'drop_invalid') {
      const verdicts = await mapLimit(current, limit, async (f) => {
        const reasons: string[] = [];
        if (step.checks.includes('size')) {
          // Without bounds, `size` drops empty files: nothing trains on zero bytes.
          const min = step.min ?? (step.max === undefined ? 1 : undefined);
          if (min !== undefined && f.size < min) reasons.push(`size: ${f.size} bytes, below the minimum of ${min}`);
          if (step.max !== undefined && f.size > step.max)
            reasons.push(`size: ${f.size} bytes, above the maximum of ${step.max}`);
        }
        if (step.checks.includes('types') || step.checks.includes('decodable')) {
          const p = await probe(original(f));
          if (step.checks.includes('types') && p.mismatch) reasons.push(`types: ${p.mismatch}`);
          if (step.checks.includes('decodable') && p.decode && !p.decode.ok)
            reasons.push(`decodable: ${p.decodedAs}: ${p.decode.reason}`);
        }
        return reasons;
      });
      const byCheck: Record<string, number> = {};
      const survivors: FileInfo[] = [];
      current.forEach((f, i) => {
        const reasons = verdicts[i] as string[];
        if (reasons.length === 0) {
          survivors.push(f);
          return;
        }
        for (const r of reasons) {
          const k = r.slice(0, r.indexOf(':'));
          byCheck[k] = (byCheck[k] ?? 0) + 1;
        }
        dropped.push({ path: f.path, reason: reasons.join('; '), step: si });
      });
      details = { dropped: filesIn - survivors.length, byCheck };
      current = survivors;
    } else {
      const ri = redactSteps.indexOf(step);
      const totals = zeroCounts();
      let changed = 0;
      current = await mapLimit(current, limit, async (f) => {
        const ext = extensionOf(f.path);
        if (!step.extensions.includes(ext)) return f;
        const p = await probe(original(f));
        // The probe's redactions are those of the steps applying to this file, in order.
        const at = redactSteps.slice(0, ri).filter((s) => s.extensions.includes(ext)).length;
        const out = p.redactions[at];
        if (!out || totalCount(out.counts) === 0) return f;
        changed++;
        addCounts(totals, out.counts);
        const sum = redactedCounts.get(f.path) ?? zeroCounts();
        addCounts(sum, out.counts);
        redactedCounts.set(f.path, sum);
        return {
          path: f.path,
          size: out.size,
          digest: f.digest.startsWith('sha256:') ? `sha256:${out.digest}` : out.digest,
        };
      });
      details = { files: changed, counts: totals };
    }
    reports.push({ step: si, kind: step.kind, filesIn, filesOut: current.length, details });
  }

  const redacted: RedactedFile[] = [];
  for (const f of current) {
    const counts = redactedCounts.get(f.path);
    if (!counts) continue;
    const p = await probe(original(f));
    if (p.redacted) redacted.push({ path: f.path, bytes: p.redacted, counts });
  }
  return { keep: current, dropped, redacted, report: { steps: reports } };
}
