import { createHmac } from 'node:crypto';
import { maskValue } from '../validation-report.js';
import { confirms, PII_PATTERNS, type PiiKind, type PiiPattern } from './patterns.js';

/**
 * PII scanning and redaction of text in JavaScript, with the very pattern sources the SQL side
 * runs in DuckDB (pii/sql.ts), so a value flagged in a table is the one flagged in a file.
 *
 * Scanning and redaction are one procedure: the kinds run one after another over the text as
 * redacted so far, checksum kinds (cards, IBANs) first, so that a digit run is judged as a card
 * before the phone pattern can claim part of it. A scan therefore counts exactly what a
 * redaction replaces, and no character is counted under two kinds. (The SQL count,
 * `piiCountSql`, counts each kind on its own; the two differ only where kinds overlap.)
 *
 * Every pattern is ASCII-only, so scanning bytes decoded as Latin-1 finds exactly the matches
 * that scanning their UTF-8 decoding would — which lets files in any encoding be scanned and
 * redacted byte-exactly (see scanBytes / redactBytes).
 */
export const ALL_PII_KINDS: readonly PiiKind[] = ['email', 'phone', 'card', 'iban'];

export interface PiiFinding {
  kind: PiiKind;
  /** Offsets in the original text, in UTF-16 code units (bytes for scanBytes). */
  start: number;
  end: number;
  /** The value's shape (maskValue), never the value. */
  masked: string;
}

export interface PiiScan {
  counts: Record<PiiKind, number>;
  findings: PiiFinding[];
}

export interface ScanOptions {
  /** Keep at most this many findings (counts stay exact); default: all. */
  maxFindings?: number;
}

interface Compiled {
  pattern: PiiPattern;
  re: RegExp;
}

const compiled = new Map<PiiKind, Compiled>(
  PII_PATTERNS.map((p) => [p.kind, { pattern: p, re: new RegExp(p.source, 'g') }]),
);

/** The kinds in processing order: checksum kinds first, each group in PII_PATTERNS order. */
function ordered(kinds: readonly PiiKind[]): Compiled[] {
  const out: Compiled[] = [];
  for (const pass of [true, false]) {
    for (const p of PII_PATTERNS) {
      if (kinds.includes(p.kind) && (p.checksum !== null) === pass) out.push(compiled.get(p.kind) as Compiled);
    }
  }
  for (const k of kinds) if (!compiled.has(k)) throw new Error(`unknown PII kind ${String(k)}`);
  return out;
}

export function zeroCounts(): Record<PiiKind, number> {
  return { email: 0, phone: 0, card: 0, iban: 0 };
}

/** A replacement made by an earlier pass, in the coordinates of the current text. */
interface Mark {
  curStart: number;
  curEnd: number;
  origEnd: number;
}

/**
 * The shared procedure. `marks` map positions of the text redacted so far back to the
 * original: no pattern can match inside a token (`[` and `]` are in no pattern), so every
 * match lies between marks and shifts by the length change of the marks before it.
 */
function runPasses(text: string, kinds: readonly PiiKind[], opts: { redact: boolean; findings: number }) {
  const counts = zeroCounts();
  const findings: PiiFinding[] = [];
  let cur = text;
  let marks: Mark[] = [];
  const passes = ordered(kinds);
  for (let pi = 0; pi < passes.length; pi++) {
    const { pattern, re } = passes[pi] as Compiled;
    // No '@', no address: the e-mail pattern is the slowest, so skip it outright.
    if (pattern.kind === 'email' && !cur.includes('@')) continue;
    // The last pass of a scan never needs the text it would produce.
    const rewrite = opts.redact || pi < passes.length - 1;
    const parts: string[] = [];
    const next: Mark[] = [];
    let last = 0;
    let mi = 0;
    let shift = 0;
    let lastOrigEnd = 0;
    let lastCurEnd = 0;
    re.lastIndex = 0;
    for (let m = re.exec(cur); m !== null; m = re.exec(cur)) {
      const value = m[0];
      if (pattern.checksum !== null && !confirms(pattern, value)) continue;
      counts[pattern.kind]++;
      const s = m.index;
      const e = s + value.length;
      // Earlier marks before this match, carried over in order.
      while (mi < marks.length && (marks[mi] as Mark).curEnd <= s) {
        const mk = marks[mi] as Mark;
        if (rewrite) next.push({ curStart: mk.curStart + shift, curEnd: mk.curEnd + shift, origEnd: mk.origEnd });
        lastOrigEnd = mk.origEnd;
        lastCurEnd = mk.curEnd;
        mi++;
      }
      const origStart = lastOrigEnd + (s - lastCurEnd);
      if (findings.length < opts.findings)
        findings.push({
          kind: pattern.kind,
          start: origStart,
          end: origStart + value.length,
          masked: maskValue(value),
        });
      if (rewrite) {
        parts.push(cur.slice(last, s), pattern.token);
        next.push({ curStart: s + shift, curEnd: s + shift + pattern.token.length, origEnd: origStart + value.length });
        shift += pattern.token.length - value.length;
        last = e;
      }
    }
    if (rewrite && parts.length > 0) {
      for (; mi < marks.length; mi++) {
        const mk = marks[mi] as Mark;
        next.push({ curStart: mk.curStart + shift, curEnd: mk.curEnd + shift, origEnd: mk.origEnd });
      }
      parts.push(cur.slice(last));
      cur = parts.join('');
      marks = next;
    }
  }
  findings.sort((a, b) => a.start - b.start);
  return { counts, findings, text: cur };
}

/** Finds the PII of the given kinds (default: all) in `text`. */
export function scanText(text: string, kinds: readonly PiiKind[] = ALL_PII_KINDS, opts: ScanOptions = {}): PiiScan {
  const r = runPasses(text, kinds, { redact: false, findings: opts.maxFindings ?? Number.POSITIVE_INFINITY });
  return { counts: r.counts, findings: r.findings };
}

/** `text` with every confirmed match replaced by its kind's token (`[EMAIL]`, …). */
export function redactText(
  text: string,
  kinds: readonly PiiKind[] = ALL_PII_KINDS,
): { text: string; counts: Record<PiiKind, number> } {
  const r = runPasses(text, kinds, { redact: true, findings: 0 });
  return { text: r.text, counts: r.counts };
}

/** scanText over raw bytes of any encoding; offsets are byte offsets. */
export function scanBytes(bytes: Buffer, kinds: readonly PiiKind[] = ALL_PII_KINDS, opts: ScanOptions = {}): PiiScan {
  return scanText(bytes.toString('latin1'), kinds, opts);
}

/**
 * redactText over raw bytes: every byte outside a match is kept as it was, whatever the
 * encoding (UTF-8, Latin-1, broken), because matches are ASCII and Latin-1 maps bytes 1:1.
 */
export function redactBytes(
  bytes: Buffer,
  kinds: readonly PiiKind[] = ALL_PII_KINDS,
): { bytes: Buffer; counts: Record<PiiKind, number> } {
  const r = redactText(bytes.toString('latin1'), kinds);
  const total = r.counts.email + r.counts.phone + r.counts.card + r.counts.iban;
  return { bytes: total === 0 ? bytes : Buffer.from(r.text, 'latin1'), counts: r.counts };
}

/**
 * A keyed pseudonym: HMAC-SHA256(key, UTF-8 of value) as lowercase hex — the same string
 * `hmacSql` computes inside DuckDB, so tables and files pseudonymize a value alike.
 */
export function pseudonym(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/**
 * Bytes at which a text may be cut without changing any scan or redaction: ASCII characters
 * that occur in no pattern, so no match can span them. Lets huge files be scanned in pieces.
 */
export function isSafeCut(byte: number): boolean {
  if (byte >= 0x80) return false;
  if ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)) return false;
  // . _ % + - @ ( ) and space appear in the patterns.
  return !(
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x25 ||
    byte === 0x2b ||
    byte === 0x2d ||
    byte === 0x40 ||
    byte === 0x28 ||
    byte === 0x29 ||
    byte === 0x20
  );
}

export function addCounts(into: Record<PiiKind, number>, from: Record<PiiKind, number>): void {
  into.email += from.email;
  into.phone += from.phone;
  into.card += from.card;
  into.iban += from.iban;
}

export function totalCount(c: Record<PiiKind, number>): number {
  return c.email + c.phone + c.card + c.iban;
}
