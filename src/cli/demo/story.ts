/**
 * The demo's story lines: pure functions from what the commands returned (their --json
 * documents) to the sentences a reader sees. Kept apart from the runner so the wording can be
 * tested without running the five-minute demo.
 */
import { formatBytes, shortDigest, table } from '../format.js';

/** 1234567 → "1,234,567": counts are read by people here, not parsed. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A metric value as the gate prints it. */
export function metric(v: number): string {
  return v.toFixed(4);
}

export function signed(v: number): string {
  return `${v >= 0 ? '+' : '−'}${metric(Math.abs(v))}`;
}

/** "[lo, hi]" of a confidence interval. */
export function interval(lo: number, hi: number): string {
  return `[${signed(lo)}, ${signed(hi)}]`;
}

export interface AddResult {
  ref: string;
  digest: string;
  files: number;
  bytes: number;
  newBytes: number;
}

/** One line per added version: size, what was new, and the digest that names it. */
export function added(r: AddResult, what = ''): string {
  const stored = r.newBytes < r.bytes ? `, ${formatBytes(r.newBytes)} of it new` : '';
  return `${r.ref}${what ? ` ${what}` : ''}: ${count(r.files)} file${r.files === 1 ? '' : 's'}, ${formatBytes(r.bytes)}${stored} (version ${shortDigest(r.digest, 8)})`;
}

/** "1 added, 500 removed, 1 modified" — the counts, never the paths. */
export function changes(c: { added: number; removed: number; modified: number }): string {
  return `${count(c.added)} added, ${count(c.removed)} removed, ${count(c.modified)} modified`;
}

/**
 * What always predicting the more frequent class scores: the floor any classifier must clear
 * before its accuracy means anything.
 */
export function majorityBaseline(positiveShare: number, labels: { positive: string; negative: string }) {
  const positive = positiveShare > 0.5;
  return {
    label: positive ? labels.positive : labels.negative,
    accuracy: positive ? positiveShare : 1 - positiveShare,
  };
}

export interface CheckOutcome {
  name: string;
  passed: boolean;
  message: string;
}

/**
 * Why a gate blocked a model: each failed check with its measured value and threshold, and for
 * non-regression the confidence interval the decision rests on (the check's own message says
 * all three).
 */
export function blockedLines(checks: readonly CheckOutcome[]): string[] {
  return checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.message}`);
}

export interface ModelRow {
  label: string;
  features: string;
  accuracy: number;
  rocAuc: number;
  verdict: string;
}

/** The models side by side, under the majority-class row they must beat. */
export function modelTable(rows: readonly ModelRow[]): string[] {
  return table(
    rows.map((r) => [r.label, r.features, metric(r.accuracy), metric(r.rocAuc), r.verdict]),
    ['model', 'features', 'accuracy', 'roc_auc', 'gate'],
  ).split('\n');
}

export interface ParamDiff {
  name: string;
  values: unknown[];
  differs: boolean;
}

/** "features differs (…); epochs=40, lr=2 the same" — what a fair comparison must show. */
export function paramsLine(params: readonly ParamDiff[]): string {
  const differ = params.filter((p) => p.differs);
  const same = params.filter((p) => !p.differs);
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const d = differ.map((p) => `${p.name} (${p.values.map(show).join(' | ')})`).join(', ');
  const s = same.map((p) => `${p.name}=${show(p.values[0])}`).join(', ');
  const n = differ.length;
  return `${n === 1 ? 'one param differs' : `${n} params differ`}: ${d || 'none'}${s ? `; the same: ${s}` : ''}`;
}
