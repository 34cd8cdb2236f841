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
  const scope = fileCleanScope(files, steps, read, opts);
  // The current state of each surviving file: its entry after the redactions so far.
  let current: FileInfo[] = files.map((f) => ({ ...f }));
  const reports: FileCleanStepReport[] = [];
  for (let si = 0; si < steps.length; si++) {
    const step = steps[si] as FileStep;
    const filesIn = current.length;
    // One runner per kind; the table's type ties each to its own kind, so this call is the only cast.
    const runner = STEP_BY_KIND[step.kind] as (x: FileStep, s: StepInput) => StepOutcome | Promise<StepOutcome>;
    const out = await runner(step, { scope, current, si });
    current = out.current;
    reports.push({ step: si, kind: step.kind, filesIn, filesOut: current.length, details: out.details });
  }

  const redacted: RedactedFile[] = [];
  for (const f of current) {
    const counts = scope.redactedCounts.get(f.path);
    if (!counts) continue;
    const p = await scope.probe(f);
    if (p.redacted) redacted.push({ path: f.path, bytes: p.redacted, counts });
  }
  return { keep: current, dropped: scope.dropped, redacted, report: { steps: reports } };
}

type RedactStep = Extract<FileStep, { kind: 'redact_pii' }>;

/** What every step runs with: the shared probes and what the steps so far dropped and redacted. */
function fileCleanScope(files: FileInfo[], steps: FileStep[], read: ReadFile, opts: FileCleanOptions) {
  const redactSteps = steps.filter((s): s is RedactStep => s.kind === 'redact_pii');
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
  const probes = new Map<string, Promise<Probe>>();
  const probe = (current: FileInfo) => {
    const f = inputs.get(current.path) as FileInfo;
    let p = probes.get(f.path);
    if (!p) {
      p = probeFile(f, read, needsOf(f));
      probes.set(f.path, p);
    }
    return p;
  };
  return {
    redactSteps,
    probe,
    limit: opts.concurrency ?? 8,
    dropped: [] as DroppedFile[],
    redactedCounts: new Map<string, Record<PiiKind, number>>(),
  };
}

interface StepInput {
  scope: ReturnType<typeof fileCleanScope>;
  current: FileInfo[];
  /** The step's index, as reports and dropped files name it. */
  si: number;
}

interface StepOutcome {
  current: FileInfo[];
  details: Record<string, unknown>;
}

const STEP_BY_KIND: {
  [K in FileStep['kind']]: (x: Extract<FileStep, { kind: K }>, s: StepInput) => StepOutcome | Promise<StepOutcome>;
} = {
  select: selectStep,
  drop_duplicates: dropDuplicatesStep,
  drop_invalid: dropInvalidStep,
  redact_pii: redactStep,
};

function selectStep(step: Extract<FileStep, { kind: 'select' }>, { scope, current, si }: StepInput): StepOutcome {
  // Which files belong in the data at all (e.g. only the e-mails, not the package's index files).
  const include = (step.include ?? ['**']).map(globToRegExp);
  const exclude = (step.exclude ?? []).map(globToRegExp);
  const survivors: FileInfo[] = [];
  for (const f of current) {
    if (matchesAny(f.path, include) && !matchesAny(f.path, exclude)) survivors.push(f);
    else scope.dropped.push({ path: f.path, reason: 'not selected', step: si });
  }
  return { current: survivors, details: { dropped: current.length - survivors.length } };
}

function dropDuplicatesStep(_step: FileStep, { scope, current, si }: StepInput): StepOutcome {
  const byDigest = new Map<string, FileInfo>();
  for (const f of current) {
    const kept = byDigest.get(f.digest);
    if (!kept || compareNames(f.path, kept.path) < 0) byDigest.set(f.digest, f);
  }
  const survivors: FileInfo[] = [];
  for (const f of current) {
    const kept = byDigest.get(f.digest) as FileInfo;
    if (kept === f) survivors.push(f);
    else scope.dropped.push({ path: f.path, reason: `duplicate of ${kept.path}`, step: si });
  }
  return { current: survivors, details: { dropped: current.length - survivors.length } };
}

async function dropInvalidStep(
  step: Extract<FileStep, { kind: 'drop_invalid' }>,
  { scope, current, si }: StepInput,
): Promise<StepOutcome> {
  const verdicts = await mapLimit(current, scope.limit, (f) => invalidReasons(step, f, scope.probe));
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
    scope.dropped.push({ path: f.path, reason: reasons.join('; '), step: si });
  });
  return { current: survivors, details: { dropped: current.length - survivors.length, byCheck } };
}

async function invalidReasons(
  step: Extract<FileStep, { kind: 'drop_invalid' }>,
  f: FileInfo,
  probe: (f: FileInfo) => Promise<Probe>,
): Promise<string[]> {
  const reasons: string[] = [];
  if (step.checks.includes('size')) {
    // Without bounds, `size` drops empty files: nothing trains on zero bytes.
    const min = step.min ?? (step.max === undefined ? 1 : undefined);
    if (min !== undefined && f.size < min) reasons.push(`size: ${f.size} bytes, below the minimum of ${min}`);
    if (step.max !== undefined && f.size > step.max)
      reasons.push(`size: ${f.size} bytes, above the maximum of ${step.max}`);
  }
  if (step.checks.includes('types') || step.checks.includes('decodable')) {
    const p = await probe(f);
    if (step.checks.includes('types') && p.mismatch) reasons.push(`types: ${p.mismatch}`);
    if (step.checks.includes('decodable') && p.decode && !p.decode.ok)
      reasons.push(`decodable: ${p.decodedAs}: ${p.decode.reason}`);
  }
  return reasons;
}

async function redactStep(step: RedactStep, { scope, current }: StepInput): Promise<StepOutcome> {
  const ri = scope.redactSteps.indexOf(step);
  const totals = zeroCounts();
  let changed = 0;
  const next = await mapLimit(current, scope.limit, async (f) => {
    const ext = extensionOf(f.path);
    if (!step.extensions.includes(ext)) return f;
    const p = await scope.probe(f);
    // The probe's redactions are those of the steps applying to this file, in order.
    const at = scope.redactSteps.slice(0, ri).filter((s) => s.extensions.includes(ext)).length;
    const out = p.redactions[at];
    if (!out || totalCount(out.counts) === 0) return f;
    changed++;
    addCounts(totals, out.counts);
    const sum = scope.redactedCounts.get(f.path) ?? zeroCounts();
    addCounts(sum, out.counts);
    scope.redactedCounts.set(f.path, sum);
    return {
      path: f.path,
      size: out.size,
      digest: f.digest.startsWith('sha256:') ? `sha256:${out.digest}` : out.digest,
    };
  });
  return { current: next, details: { files: changed, counts: totals } };
}
