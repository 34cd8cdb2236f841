import { closeSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { CairnError, isCairnError } from '../../core/errors.js';
import { firstInvalidUtf8 } from '../files/utf8.js';
import { isEngineError } from '../tables/engine-error.js';
import type { TableSource } from '../tables/source.js';

/** DuckDB's default `max_line_size` for CSV: a longer line (record) fails the load. */
export const CSV_MAX_LINE_BYTES = 2_000_000;

export interface CsvProblem {
  /** 1-based physical line where the problem is. */
  line: number;
  problem: string;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const CHUNK = 8 * 1024 * 1024;

/**
 * The first structural problem of a CSV/TSV file that DuckDB's strict reader refuses: invalid
 * UTF-8, a record longer than the maximum line size, a row with another number of fields than
 * the header, or a quoted field that is never closed. Streams the file (bounded memory); only
 * run after a load failed, to say what is wrong in words and by line. Null when none is found.
 */
export function diagnoseCsv(path: string, delimiter: ',' | '\t'): CsvProblem | null {
  const scanner = new CsvScanner(delimiter.charCodeAt(0));
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK + 4);
    let carry = 0; // bytes of an incomplete UTF-8 sequence kept at the start of buf
    for (;;) {
      const n = readSync(fd, buf, carry, CHUNK, null);
      const end = carry + n;
      const eof = n === 0;
      // UTF-8: validate what is complete, keep a cut-off sequence for the next read.
      const validTo = eof ? end : completeUtf8(buf, end);
      const chunk = buf.subarray(0, validTo);
      const badAt = isUtf8(chunk) ? -1 : firstInvalidUtf8(chunk);
      const p = scanner.feed(buf, badAt >= 0 ? badAt : validTo);
      if (p) return p;
      if (badAt >= 0) {
        return {
          line: scanner.line,
          problem: `invalid UTF-8 (byte 0x${(buf[badAt] as number).toString(16).padStart(2, '0')}); the file must be UTF-8 encoded`,
        };
      }
      if (eof) return scanner.finish();
      // Move the cut-off UTF-8 sequence to the front for the next read.
      buf.copy(buf, 0, validTo, end);
      carry = end - validTo;
    }
  } finally {
    closeSync(fd);
  }
}

/** Where the complete UTF-8 sequences of buf[0, end) end: a sequence cut off by the read is left out. */
export function completeUtf8(buf: Uint8Array, end: number): number {
  let k = 0;
  while (k < 3 && k < end && ((buf[end - 1 - k] as number) & 0xc0) === 0x80) k++;
  const lead = end - 1 - k >= 0 ? (buf[end - 1 - k] as number) : 0;
  const len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return len > k + 1 ? end - 1 - k : end;
}

/** The strict reader's view of CSV structure, fed byte ranges in file order. */
class CsvScanner {
  line = 1;
  #inQuotes = false;
  #quoteLine = 0;
  /** Saw a quote inside a quoted field; the next byte decides. */
  #pendingQuote = false;
  #fields = 1;
  #recordBytes = 0;
  #recordLine = 1;
  #headerFields = -1;

  constructor(readonly delim: number) {}

  #endRecord(): CsvProblem | null {
    if (this.#recordBytes > 0) {
      if (this.#headerFields < 0) this.#headerFields = this.#fields;
      else if (this.#fields !== this.#headerFields) {
        const f = this.#fields;
        return {
          line: this.#recordLine,
          problem: `the row has ${f} field${f === 1 ? '' : 's'}, but the header has ${this.#headerFields} (a ragged row)`,
        };
      }
    }
    this.#fields = 1;
    this.#recordBytes = 0;
    return null;
  }

  /** Scans buf[0, stopAt); the first problem found, or null. */
  feed(buf: Uint8Array, stopAt: number): CsvProblem | null {
    for (let i = 0; i < stopAt; i++) {
      const b = buf[i] as number;
      if (this.#pendingQuote) {
        this.#pendingQuote = false;
        if (b === QUOTE) {
          this.#recordBytes++;
          continue; // "" inside quotes: an escaped quote
        }
        this.#inQuotes = false;
        // `"4"x`: the strict reader refuses text after a closing quote (DuckDB's sniffer then
        // fails without naming the file or the line).
        if (b !== this.delim && b !== LF && b !== CR) {
          return {
            line: this.line,
            problem: `text follows the closing quote of field ${this.#fields} (a quote inside a quoted field is written twice: "")`,
          };
        }
      }
      if (b === LF) {
        this.line++;
        if (!this.#inQuotes) {
          const p = this.#endRecord();
          if (p) return p;
          this.#recordLine = this.line;
          continue;
        }
      }
      if (b === CR && !this.#inQuotes) continue;
      if (++this.#recordBytes > CSV_MAX_LINE_BYTES) {
        return {
          line: this.#recordLine,
          problem: `the line is longer than the maximum line size of ${CSV_MAX_LINE_BYTES.toLocaleString('en-US')} bytes`,
        };
      }
      if (this.#inQuotes) {
        if (b === QUOTE) this.#pendingQuote = true;
      } else if (b === QUOTE) {
        this.#inQuotes = true;
        this.#quoteLine = this.line;
      } else if (b === this.delim) this.#fields++;
    }
    return null;
  }

  /** At the end of the file: an unterminated quote, or the last record's field count. */
  finish(): CsvProblem | null {
    if (this.#pendingQuote) this.#inQuotes = false;
    if (this.#inQuotes)
      return {
        line: this.#quoteLine,
        problem: 'a quoted field opened on this line is never closed (unterminated quote)',
      };
    return this.#endRecord();
  }
}

/** DuckDB echoes whole lines; keep messages readable. */
function shorten(text: string, dir: string, ref: string): string {
  const named = text.split(`${dir}/`).join(`${ref}: `).split(dir).join(ref);
  const lines = named
    .split('\n')
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}… (${l.length - 300} more characters)` : l));
  const out = lines.join('\n');
  return out.length > 4000 ? `${out.slice(0, 4000)}…` : out;
}

/**
 * Turns a failed load into an error that names the version's file, the line and the problem
 * in words (not the path of the materialized copy, nor a 10 KB echo of a line).
 */
export function explainLoadError(err: unknown, opts: { ref: string; dir: string; source: TableSource }): unknown {
  if (!isCairnError(err, 'INVALID_INPUT')) return err;
  const hint = 'fix the file and add it as a new version (cairn data add); nothing was written';
  if (opts.source.format === 'csv' || opts.source.format === 'tsv') {
    for (const p of opts.source.paths) {
      let found: CsvProblem | null = null;
      try {
        found = diagnoseCsv(join(opts.dir, p), opts.source.format === 'tsv' ? '\t' : ',');
      } catch {
        found = null;
      }
      if (found) {
        return new CairnError('INVALID_INPUT', `${opts.ref}: ${p}, line ${found.line}: ${found.problem}`, {
          cause: err,
          hint,
          data: { file: p, line: found.line, problem: found.problem, engine: shorten(err.message, opts.dir, opts.ref) },
        });
      }
    }
  }
  if (opts.source.format === 'jsonl') {
    for (const p of opts.source.paths) {
      let found: CsvProblem | null = null;
      try {
        found = diagnoseJsonl(join(opts.dir, p));
      } catch {
        found = null;
      }
      if (found) {
        return new CairnError('INVALID_INPUT', `${opts.ref}: ${p}, line ${found.line}: ${found.problem}`, {
          cause: err,
          hint,
          data: { file: p, line: found.line, problem: found.problem, engine: shorten(err.message, opts.dir, opts.ref) },
        });
      }
    }
  }
  // Not diagnosed: DuckDB's own words, but its first paragraph only (not its list of reader
  // options to try), and always naming the version's file(s): a sniffer failure on a list
  // of files names none ("Error when sniffing file """).
  const message = shorten(
    isEngineError(err)
      ? err.message.split(/\n(?:It was not possible|The search space|Possible fixes)/)[0]!
      : err.message,
    opts.dir,
    opts.ref,
  );
  const named = opts.source.paths.some((p) => message.includes(p));
  return new CairnError('INVALID_INPUT', named ? message : `${opts.ref}: ${opts.source.paths.join(', ')}: ${message}`, {
    cause: err,
    hint: err.hint ?? hint,
    data: { ...err.data, ...(isEngineError(err) ? { engine: shorten(err.message, opts.dir, opts.ref) } : {}) },
  });
}

/**
 * The first line of a JSON Lines file that is not one JSON value, streaming (bounded memory).
 * DuckDB's own count is off at the end of the file ("line 3" of a two-line file).
 */
export function diagnoseJsonl(path: string): CsvProblem | null {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let line = 1;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const check = (bytes: Buffer): CsvProblem | null => {
      const text = bytes.toString('utf8');
      if (!text.trim()) return null;
      if (!isUtf8(bytes)) return { line, problem: 'invalid UTF-8; the file must be UTF-8 encoded' };
      try {
        JSON.parse(text);
        return null;
      } catch (e) {
        return { line, problem: `not valid JSON (${(e as Error).message.replace(/ in JSON at position \d+.*$/, '')})` };
      }
    };
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let from = 0;
      for (let i = 0; i < n; i++) {
        if (buf[i] !== LF) continue;
        const part = buf.subarray(from, i);
        const whole = pending.length ? Buffer.concat([...pending, part]) : part;
        pending = [];
        pendingBytes = 0;
        const p = check(whole);
        if (p) return p;
        line++;
        from = i + 1;
      }
      if (from < n) {
        pending.push(Buffer.from(buf.subarray(from, n)));
        pendingBytes += n - from;
        if (pendingBytes > CSV_MAX_LINE_BYTES * 8)
          return { line, problem: `the line is longer than ${(CSV_MAX_LINE_BYTES * 8).toLocaleString('en-US')} bytes` };
      }
    }
    return pending.length ? check(Buffer.concat(pending)) : null;
  } finally {
    closeSync(fd);
  }
}
