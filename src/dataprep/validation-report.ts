import type { Severity } from './spec-files/suite.js';

/** The outcome of one check, for tables (rows) and file collections (files) alike. */
export interface CheckResult {
  name: string;
  kind: string;
  severity: Severity;
  /** Line of the check in the suite file. */
  line: number;
  /** `error`: the check could not be evaluated (e.g. a missing column); counts as failed. */
  status: 'passed' | 'failed' | 'error';
  /** Rows (or files) the check looked at. */
  evaluated: number;
  /** Rows (or files) that broke it. */
  failed: number;
  /** failed / evaluated × 100 (0 when nothing was evaluated). */
  percent: number;
  mostly: number;
  /** One sentence for people. */
  message: string;
  /** At most 10 offending rows (objects) or paths; PII values are masked. */
  sample: unknown[];
  /** Check-specific figures, e.g. drift statistics per column. */
  details?: Record<string, unknown>;
}

export interface ValidationReport {
  format: 'cairn.validation/v1';
  suite: string;
  /** The version validated, e.g. flights@v3. */
  target: string;
  kind: 'table' | 'files';
  /** Rows of the table, or files of the collection. */
  size: number;
  /** No failed check of severity error. */
  ok: boolean;
  errors: number;
  warnings: number;
  checks: CheckResult[];
  startedAt: string;
  durationMs: number;
}

/** Pass when at most (1 − mostly) of the evaluated items failed. */
export function passes(failed: number, evaluated: number, mostly: number): boolean {
  if (evaluated === 0) return failed === 0;
  return failed / evaluated <= 1 - mostly + 1e-12;
}

/** Masks a PII value for a report: keeps its shape, never its content. */
export function maskValue(v: string): string {
  return v.replace(/[A-Za-z]/g, 'x').replace(/[0-9]/g, '9');
}
