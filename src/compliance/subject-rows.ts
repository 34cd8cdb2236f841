import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { ident, lit, openEngine, scanText, type PiiKind } from '../dataprep/index.js';

/**
 * How a subject is found inside files (docs/COMPLIANCE.md "Finding a subject inside files"):
 * - `pii`: the subject is a value the PII scanner recognizes (an e-mail address, phone number,
 *   card number or IBAN); a record holds it when the scanner finds that very value in one of its
 *   cells (or, in a text file, anywhere), compared as the kind normalizes it;
 * - `column`: a table record holds it when the named column's value is the subject (trimmed).
 */
export type ContentRule =
  { kind: 'pii'; pii: PiiKind; normalized: string } | { kind: 'column'; column: string; value: string };

/** The rules for `--scan` and `--column` (none: the subject is found by path only). */
export function contentRules(subject: string, opts: { scan?: boolean; column?: string }): ContentRule[] {
  const rules: ContentRule[] = [];
  if (subject.length > 512) throw new CairnError('INVALID_INPUT', '--subject is longer than 512 characters');
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(subject))
    throw new CairnError('INVALID_INPUT', '--subject contains a control character');
  if (opts.scan) {
    const s = subject.trim();
    const found = scanText(s).findings;
    const whole = found.length === 1 && found[0]!.start === 0 && found[0]!.end === s.length ? found[0]! : null;
    if (!whole)
      throw new CairnError(
        'INVALID_INPUT',
        '--scan needs a --subject the PII scanner recognizes as one value: an e-mail address, a phone number, a card number or an IBAN',
        { hint: 'for an id that is not such a value, name the column that holds it: --column <name>' },
      );
    rules.push({ kind: 'pii', pii: whole.kind, normalized: normalize(whole.kind, s) });
  }
  if (opts.column !== undefined) {
    if (opts.column.length === 0 || opts.column.length > 256)
      throw new CairnError('INVALID_INPUT', '--column needs a column name (1 to 256 characters)');
    if (subject.trim().length === 0) throw new CairnError('INVALID_INPUT', '--subject is empty');
    rules.push({ kind: 'column', column: opts.column, value: subject.trim() });
  }
  return rules;
}

/** Two spellings of one value compare equal: e-mail case, a phone's or card's separators, an IBAN's spaces. */
function normalize(kind: PiiKind, v: string): string {
  if (kind === 'email') return v.toLowerCase();
  if (kind === 'iban') return v.replace(/ /g, '').toUpperCase();
  return v.replace(/[^0-9]/g, '');
}

/** Whether a cell's text holds the subject under a `pii` rule: the scanner finds the value itself. */
function textHolds(text: string, rule: Extract<ContentRule, { kind: 'pii' }>): boolean {
  // Cheap refusal first: every spelling of the value contains its normalized characters.
  if (rule.pii === 'email' ? !text.toLowerCase().includes(rule.normalized) : false) return false;
  for (const f of scanText(text, [rule.pii]).findings)
    if (normalize(rule.pii, text.slice(f.start, f.end)) === rule.normalized) return true;
  return false;
}

export type TableFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet';

/** How a file is searched, by its name: a table (rows), a text (whole file), or not at all. */
export function fileKind(path: string): TableFormat | 'text' | null {
  const ext = path.slice(path.lastIndexOf('/') + 1).includes('.') ? path.slice(path.lastIndexOf('.') + 1) : '';
  switch (ext.toLowerCase()) {
    case 'csv':
      return 'csv';
    case 'tsv':
      return 'tsv';
    case 'jsonl':
    case 'ndjson':
      return 'jsonl';
    case 'parquet':
      return 'parquet';
    default:
      return 'text';
  }
}

/** What searching one file found. */
export type ContentHit =
  | { type: 'none' }
  /** A text file (not a table) holding the subject: removed whole. */
  | { type: 'file' }
  /** A table with rows of the subject: `bytes` is the table without them (same format and schema). */
  | { type: 'rows'; rows: number[]; total: number; bytes: Buffer };

/**
 * A record of a delimited or JSON-lines file: its bytes `[start, end)` including the line end.
 * Quoted fields may hold line breaks (RFC 4180), so records are cut only outside quotes.
 */
interface Span {
  start: number;
  end: number;
}

function records(buf: Buffer, quoted: boolean): Span[] {
  const out: Span[] = [];
  let start = 0;
  let inQuote = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (quoted && b === 0x22) inQuote = !inQuote;
    else if (b === 0x0a && !inQuote) {
      out.push({ start, end: i + 1 });
      start = i + 1;
    }
  }
  if (start < buf.length) out.push({ start, end: buf.length });
  return out;
}

/** The fields of one CSV/TSV record (RFC 4180 quoting; a trailing CR or LF is not part of the last field). */
export function fields(line: string, delim: string): string[] {
  const s = line.replace(/\r?\n$/, '');
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inQuote) {
      if (c === '"' && s[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') inQuote = true;
    else if (c === delim) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function isBlank(buf: Buffer, r: Span): boolean {
  for (let i = r.start; i < r.end; i++) if (buf[i] !== 0x0a && buf[i] !== 0x0d && buf[i] !== 0x20) return false;
  return true;
}

/** Every string and number in a parsed JSON value. */
function* leaves(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (typeof v === 'number' || typeof v === 'bigint') yield String(v);
  else if (Array.isArray(v)) for (const x of v) yield* leaves(x);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) yield* leaves(x);
}

function cellText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/**
 * A CSV/TSV/JSONL table without the subject's records: every other byte stays as it was (the
 * header, the kept records, their quoting and line ends), so the output is a function of the
 * input alone. `rows` are 1-based data record numbers (the header is not counted; blank lines are
 * kept and not counted). Null when the file has no column the rules name and no record matched.
 */
export function filterTextTable(buf: Buffer, format: 'csv' | 'tsv' | 'jsonl', rules: readonly ContentRule[]) {
  const recs = records(buf, format !== 'jsonl');
  const text = (r: Span) => buf.subarray(r.start, r.end).toString('utf8');
  const delim = format === 'tsv' ? '\t' : ',';
  let header: string[] = [];
  let first = 0;
  if (format !== 'jsonl' && recs.length) {
    header = fields(text(recs[0]!).replace(/^\uFEFF/, ''), delim);
    first = 1;
  }
  const matches = (r: Span): boolean => {
    const t = text(r);
    if (format === 'jsonl') {
      let obj: unknown;
      try {
        obj = JSON.parse(t);
      } catch {
        // A line that is not JSON cannot be read by column; the scanner still reads its text.
        return rules.some((rule) => rule.kind === 'pii' && textHolds(t, rule));
      }
      const o = obj && typeof obj === 'object' && !Array.isArray(obj) ? (obj as Record<string, unknown>) : {};
      return rules.some((rule) =>
        rule.kind === 'pii'
          ? [...leaves(obj)].some((s) => textHolds(s, rule))
          : Object.prototype.hasOwnProperty.call(o, rule.column) && cellText(o[rule.column])?.trim() === rule.value,
      );
    }
    const f = fields(t, delim);
    const cells: Array<[string, string | null]> = header.map((h, i) => [h, f[i] ?? null]);
    return rules.some((rule) =>
      rule.kind === 'pii'
        ? f.some((c) => textHolds(c, rule))
        : cells.some(([h, c]) => h === rule.column && c !== null && c.trim() === rule.value),
    );
  };
  const removed: number[] = [];
  const kept: Buffer[] = [];
  let n = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    if (i < first || isBlank(buf, r)) {
      kept.push(buf.subarray(r.start, r.end));
      continue;
    }
    n++;
    if (matches(r)) removed.push(n);
    else kept.push(buf.subarray(r.start, r.end));
  }
  const columns = format === 'jsonl' ? null : header;
  return { rows: removed, total: n, bytes: removed.length ? Buffer.concat(kept) : buf, columns };
}

/**
 * A Parquet table without the subject's rows, through DuckDB: the same columns and types, the
 * kept rows in their order (by file row number), written by one thread so the same input gives
 * the same bytes. Key-value metadata of the original writer (e.g. pandas') is not carried over.
 */
async function filterParquet(buf: Buffer, rules: readonly ContentRule[], tmpRoot: string) {
  const dir = join(tmpRoot, `erase-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  const engine = await openEngine({ tempDir: join(dir, 'spill'), threads: 1 });
  try {
    const input = join(dir, 'in.parquet');
    writeFileSync(input, buf);
    const src = `read_parquet(${lit(input)}, file_row_number = true)`;
    const cols = (
      await engine.all<{ column_name: string }>(
        `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${lit(input)}))`,
      )
    ).map((c) => c.column_name);
    const [{ total } = { total: 0 }] = await engine.all<{ total: number }>(`SELECT count(*) AS total FROM ${src}`);
    const hit = new Set<number>();
    for (const rule of rules) {
      if (rule.kind === 'column') {
        if (!cols.includes(rule.column)) continue;
        const rows = await engine.all<{ n: number }>(
          `SELECT file_row_number AS n FROM ${src} WHERE trim(CAST(${ident(rule.column)} AS VARCHAR)) = ${lit(rule.value)}`,
        );
        for (const r of rows) hit.add(Number(r.n));
        continue;
      }
      if (cols.length === 0) continue;
      // DuckDB narrows to rows whose text could hold the value; the scanner decides, as for CSV.
      const probe = (c: string) =>
        rule.pii === 'email'
          ? `contains(lower(CAST(${ident(c)} AS VARCHAR)), ${lit(rule.normalized)})`
          : `contains(upper(regexp_replace(CAST(${ident(c)} AS VARCHAR), '[^0-9A-Za-z]', '', 'g')), ${lit(rule.normalized)})`;
      const rows = await engine.all<{ n: number; cells: Array<string | null> }>(
        `SELECT file_row_number AS n, [${cols.map((c) => `CAST(${ident(c)} AS VARCHAR)`).join(', ')}] AS cells FROM ${src} WHERE ${cols.map(probe).join(' OR ')}`,
      );
      for (const r of rows) if (r.cells.some((c) => c !== null && textHolds(c, rule))) hit.add(Number(r.n));
    }
    const rows = [...hit].sort((a, b) => a - b);
    if (rows.length === 0) return { rows: [], total: Number(total), bytes: buf, columns: cols };
    await engine.run('CREATE TABLE gone (n BIGINT)');
    for (let i = 0; i < rows.length; i += 1000)
      await engine.run(
        `INSERT INTO gone VALUES ${rows
          .slice(i, i + 1000)
          .map((n) => `(${n})`)
          .join(', ')}`,
      );
    const out = join(dir, 'out.parquet');
    await engine.run(
      `COPY (SELECT * EXCLUDE (file_row_number) FROM ${src} WHERE file_row_number NOT IN (SELECT n FROM gone) ORDER BY file_row_number) TO ${lit(out)} (FORMAT parquet)`,
    );
    // 1-based, like the text formats.
    return { rows: rows.map((n) => n + 1), total: Number(total), bytes: readFileSync(out), columns: cols };
  } finally {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Searches one file for the subject. `columns` reports the table's column names (null for texts). */
export async function searchFile(
  path: string,
  bytes: Buffer,
  rules: readonly ContentRule[],
  tmpRoot: string,
): Promise<{ hit: ContentHit; columns: string[] | null }> {
  const kind = fileKind(path);
  if (kind === null || rules.length === 0) return { hit: { type: 'none' }, columns: null };
  if (kind === 'text') {
    // Only the scanner reads free text: a column names nothing in it. Binary files (a NUL in
    // their first bytes: images, archives) are not text and are not searched.
    if (bytes.subarray(0, 8192).includes(0)) return { hit: { type: 'none' }, columns: null };
    const t = bytes.toString('latin1');
    const holds = rules.some((r) => r.kind === 'pii' && textHolds(t, r));
    return { hit: holds ? { type: 'file' } : { type: 'none' }, columns: null };
  }
  const r = kind === 'parquet' ? await filterParquet(bytes, rules, tmpRoot) : filterTextTable(bytes, kind, rules);
  return {
    hit: r.rows.length ? { type: 'rows', rows: r.rows, total: r.total, bytes: r.bytes } : { type: 'none' },
    columns: r.columns,
  };
}
