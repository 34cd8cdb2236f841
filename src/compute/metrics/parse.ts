import { canonicalJson } from '../../core/canonical-json.js';
import {
  isValidStep,
  NAME_MAX,
  nameProblem,
  STEP_PROBLEM,
  TIME_PROBLEM,
  VALUE_PROBLEM,
} from '../../core/run-contract.js';

// The line rules are the published contract (core/run-contract.ts), shared with the SDKs.
export { isValidStep, NAME_MAX, nameProblem, STEP_PROBLEM, TIME_PROBLEM, VALUE_PROBLEM };

/**
 * The metrics protocol (docs/COMPUTE.md, "Logging params and metrics"): a job appends one JSON
 * object per line to $CAIRN_METRICS_FILE. This module is the one definition of what a valid
 * line is, on the rules of core/run-contract.ts that the SDKs (src/sdk/, sdk/python/) apply before writing.
 */
export type MetricRecord =
  | { kind: 'param'; name: string; value: unknown }
  | {
      kind: 'metric';
      name: string;
      value: number;
      step: number | null;
      /** Normalized to UTC with milliseconds; null = the line had none (ingestion time applies). */
      time: string | null;
    };

export interface BadLine {
  /** The offending line, cut to 200 characters. */
  line: string;
  reason: string;
}

export interface ParseResult {
  records: MetricRecord[];
  /** The trailing partial line, to pass back with the next chunk. */
  carry: string;
  bad: BadLine[];
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 time as UTC with milliseconds (the form every time column uses, so they sort as
 * text), or null. Checked field by field: Date.parse would roll 2026-02-30 over into March.
 */
export function normalizeTime(s: string): string | null {
  if (isCanonicalTime(s)) return s;
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Cut (not rounded) to milliseconds, in integers: 0.57 * 1000 is 569.99… in floating point.
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  if (h > 23 || mi > 59 || sec > 59) return null;
  // setUTCFullYear, not Date.UTC, which maps years 0–99 to 1900–1999.
  const local = new Date(0);
  local.setUTCFullYear(y, mo - 1, d);
  local.setUTCHours(h, mi, sec, ms);
  if (local.getUTCFullYear() !== y || local.getUTCMonth() !== mo - 1 || local.getUTCDate() !== d) return null;
  let t = local.getTime();
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    t -= (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const out = new Date(t);
  return Number.isNaN(out.getTime()) ? null : out.toISOString();
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Whether `s` already is a valid YYYY-MM-DDTHH:MM:SS.mmmZ, the form both SDKs write: checked
 * by hand because it is on every metric line, and the general path costs ~1 µs a line.
 */
function isCanonicalTime(s: string): boolean {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */) return false;
  for (let i = 0; i < 23; i++) {
    const c = s.charCodeAt(i);
    const sep =
      i === 4 || i === 7
        ? 45 /* - */
        : i === 10
          ? 84 /* T */
          : i === 13 || i === 16
            ? 58 /* : */
            : i === 19
              ? 46 /* . */
              : 0;
    if (sep ? c !== sep : c < 48 || c > 57) return false;
  }
  const n = (i: number) => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
  const y = n(0) * 100 + n(2);
  const mo = n(5);
  if (mo < 1 || mo > 12) return false;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const d = n(8);
  return d >= 1 && d <= DAYS[mo - 1]! + (leap ? 1 : 0) && n(11) < 24 && n(14) < 60 && n(17) < 60;
}

const NON_FINITE_TOKEN = /(?:^|[^A-Za-z"])(?:-?Infinity|NaN)(?:$|[^A-Za-z"])/;

function clip(line: string): string {
  if (line.length <= NAME_MAX) return line;
  let cut = line.slice(0, NAME_MAX);
  // Never end on half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

/** One line (without its newline) to a record, or the reason it is refused. */
export function parseMetricLine(line: string): MetricRecord | { reason: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    // Python's json.dumps writes NaN/Infinity unless allow_nan=False: the usual way to get here.
    return {
      reason: NON_FINITE_TOKEN.test(line) ? `${VALUE_PROBLEM} (NaN and Infinity are not JSON)` : 'not valid JSON',
    };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { reason: 'not a JSON object' };
  const o = obj as Record<string, unknown>;
  if (o.kind !== 'param' && o.kind !== 'metric') return { reason: '"kind" must be "param" or "metric"' };
  const bad = nameProblem(o.name);
  if (bad) return { reason: bad };
  const name = o.name as string;
  if (o.kind === 'param') {
    if (!('value' in o)) return { reason: '"value" is missing' };
    try {
      // Stored as canonical JSON text; a string JSON.parse accepted can still hold a lone
      // surrogate ("\ud800"), which no UTF-8 column can keep.
      canonicalJson(o.value);
    } catch {
      return { reason: '"value" must be well-formed Unicode' };
    }
    return { kind: 'param', name, value: o.value };
  }
  // 1e999 parses to Infinity, so the finiteness check covers overflowing literals too.
  if (typeof o.value !== 'number' || !Number.isFinite(o.value)) return { reason: VALUE_PROBLEM };
  if (!isValidStep(o.step)) return { reason: STEP_PROBLEM };
  let time: string | null = null;
  if (o.time !== undefined && o.time !== null) {
    time = typeof o.time === 'string' ? normalizeTime(o.time) : null;
    if (time === null) return { reason: TIME_PROBLEM };
  }
  return { kind: 'metric', name, value: o.value, step: o.step ?? null, time };
}

/**
 * Parses the complete lines of `carry + chunk`. Blank lines are skipped; CRLF is accepted. A
 * Buffer must end on a UTF-8 character boundary (MetricsTailer hands over whole lines only).
 * Bad lines are reported, never fatal: one broken print must not lose a run's metrics.
 */
export function parseMetricLines(chunk: Buffer | string, carry: string): ParseResult {
  const text = carry + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  const records: MetricRecord[] = [];
  const bad: BadLine[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    let line = text.slice(start, nl);
    start = nl + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    const r = parseMetricLine(line);
    if ('reason' in r) bad.push({ line: clip(line), reason: r.reason });
    else records.push(r);
  }
  return { records, carry: text.slice(start), bad };
}
