/** What can leak between splits; each check is documented in docs/DATAPREP.md. */
export type LeakageKind =
  'exact-duplicate' | 'content-duplicate' | 'key-overlap' | 'group-overlap' | 'time-order' | 'near-duplicate';

export interface LeakageFinding {
  kind: LeakageKind;
  /** Exact duplicates, key/group overlap and time order are errors; near-duplicates warnings. */
  severity: 'error' | 'warn';
  /** Rows, values, files or pairs that leak (the message says which). */
  count: number;
  /** At most 5 examples. */
  sample: unknown[];
  message: string;
  /** Check-specific figures (e.g. how many texts were compared). */
  details?: Record<string, unknown>;
}

export interface LeakageReport {
  /** No finding of severity error. */
  ok: boolean;
  /** The checks that ran, found something or not. */
  checked: LeakageKind[];
  /** Only checks that found something. */
  findings: LeakageFinding[];
}

export const LEAKAGE_SEVERITY: Record<LeakageKind, 'error' | 'warn'> = {
  'exact-duplicate': 'error',
  // The same values under different keys: often a record duplicated with a new id, sometimes
  // two genuinely different rows that coincide (two days with the same weather), so a warning.
  'content-duplicate': 'warn',
  'key-overlap': 'error',
  'group-overlap': 'error',
  'time-order': 'error',
  'near-duplicate': 'warn',
};

export const SAMPLE_SIZE = 5;

export function leakageReport(checked: LeakageKind[], findings: LeakageFinding[]): LeakageReport {
  return { ok: !findings.some((f) => f.severity === 'error'), checked, findings };
}
