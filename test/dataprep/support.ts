// Shared helpers for the data-preparation end-to-end tests: the real CLI, the store and the
// audit log as a user (or an auditor) sees them, and independent oracles (the documented
// split hash, the documented e-mail pattern, a strict XML checker).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { expect } from 'vitest';
import { packageRoot } from '../../src/core/package-root.js';
import { cli, type CliResult } from '../../src/test-support/cli.js';

export const VEGA = join(packageRoot(), 'node_modules', 'vega-datasets', 'data');
export const SEATTLE = join(VEGA, 'seattle-weather.csv');
export const FLIGHTS = join(VEGA, 'flights-3m.parquet');
export const SPAM = join(packageRoot(), 'node_modules', '@stdlib', 'datasets-spam-assassin', 'data');

export interface ErrorDoc {
  error: { code: string; message: string; hint: string; data: Record<string, unknown> };
}

export interface AuditEvent {
  index: number;
  action: string;
  outcome: 'ok' | 'failed' | 'denied';
  reason?: string;
  target: { type: string; name?: string; version?: number; digest?: string };
  inputs?: string[];
  outputs?: string[];
  params?: Record<string, unknown>;
}

export interface SplitOut {
  from: string;
  splits: Array<{ name: string; ref: string; digest: string; size: number }>;
  leakage: {
    ok: boolean;
    checked: string[];
    findings: Array<{
      kind: string;
      severity: string;
      count: number;
      message: string;
      sample: unknown[];
      details: Record<string, unknown>;
    }>;
  };
  allowedLeakage: boolean;
}

/** A directory that outlives single tests (a workspace shared by a file); remove with rmTemp. */
export function makeTemp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cairn-dataprep-${prefix}-`));
}

export function rmTemp(dir: string): void {
  if (dir && !process.env.CAIRN_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
}

/** Runs the CLI and insists on the exit status, showing the output when it differs. */
export function run(cwd: string, args: string[], code = 0): CliResult {
  const r = cli(args, { cwd });
  expect(r.code, `cairn ${args.join(' ')}\n${r.stdout.slice(0, 4000)}\n${r.stderr.slice(0, 4000)}`).toBe(code);
  return r;
}

/** `--json` output of a command that must succeed. */
export function ok<T>(cwd: string, args: string[]): T {
  const r = run(cwd, [...args, '--json'], 0);
  return r.json as T;
}

/** `--json` error document of a command that must fail with `code` and exit status `exit`. */
export function fails(cwd: string, args: string[], code: string, exit = 1): ErrorDoc['error'] {
  const r = run(cwd, [...args, '--json'], exit);
  const doc = r.json as ErrorDoc | undefined;
  expect(doc?.error?.code, r.stdout.slice(0, 2000)).toBe(code);
  return doc!.error;
}

export function initWs(cwd: string): void {
  run(cwd, ['init']);
}

export function events(cwd: string, action?: string): AuditEvent[] {
  return ok<AuditEvent[]>(cwd, ['audit', 'log', ...(action ? ['--action', action] : [])]);
}

export function lastEvent(cwd: string, action: string): AuditEvent {
  const all = events(cwd, action);
  expect(all.length, `no ${action} event`).toBeGreaterThan(0);
  return all[all.length - 1]!;
}

export interface DatasetRow {
  name: string;
  versions: number;
  latest: string;
  digest: string;
}

export function datasets(cwd: string): DatasetRow[] {
  return ok<DatasetRow[]>(cwd, ['data', 'ls']);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Everything in the object store (pack files and the store's own temp files). */
export function storeFiles(cwd: string): string[] {
  return [...filesUnder(join(cwd, '.cairn', 'objects', 'packs')), ...filesUnder(join(cwd, '.cairn', 'objects', 'tmp'))];
}

/** Files left in `.cairn/tmp` (work folders of clean and split, DuckDB spill files). */
export function tmpFiles(cwd: string): string[] {
  return filesUnder(join(cwd, '.cairn', 'tmp'));
}

/** What a failed command must leave exactly as it was. */
export interface Snapshot {
  datasets: DatasetRow[];
  store: string[];
}

export function snapshot(cwd: string): Snapshot {
  return { datasets: datasets(cwd), store: storeFiles(cwd) };
}

/** No new dataset or version, no new pack file, nothing left in .cairn/tmp. */
export function expectUnchanged(cwd: string, before: Snapshot): void {
  expect(datasets(cwd)).toEqual(before.datasets);
  expect(storeFiles(cwd)).toEqual(before.store);
  expect(tmpFiles(cwd)).toEqual([]);
}

/** Runs SQL on a fresh in-process DuckDB (reads Parquet and CSV written by the CLI). */
export async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    // BIGINT comes back as bigint: numbers while exact, as JSON would carry them.
    const plain = (v: unknown) =>
      typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v;
    return reader
      .getRowObjectsJS()
      .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)]))) as T[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

export function sqlLit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Checks a version out into a fresh folder under `cwd` and returns the folder. */
let outSerial = 0;
export function checkout(cwd: string, ref: string): string {
  const dir = join(cwd, 'out', `${ref.replace(/[^A-Za-z0-9]+/g, '_')}-${++outSerial}`);
  run(cwd, ['data', 'checkout', ref, dir]);
  return dir;
}

/**
 * The documented split position (docs/DATAPREP.md, "Split assignment"), computed here from
 * the spec, not from Cairn's code: SHA-256 of "cairn-split-v1" US seed US key text, first 13
 * hex digits over 16^13.
 */
export function splitPosition(keyText: string, seed = 0): number {
  const h = createHash('sha256').update(`cairn-split-v1\u001f${seed}\u001f${keyText}`, 'utf8').digest('hex');
  return parseInt(h.slice(0, 13), 16) / 16 ** 13;
}

/** The key text of a one-column key holding `value` (NULL is "0"). */
export function keyText(value: string | null): string {
  return value === null ? '0' : `1${value}`;
}

/** The documented e-mail pattern (docs/DATAPREP.md, PII detectors). */
export const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}/g;

export function emailsIn(text: string): number {
  return [...text.matchAll(EMAIL)].length;
}

/** Minimal RFC 4180 CSV reader for oracles (quotes, escaped quotes, CRLF). */
export function parseCsv(text: string): Array<Record<string, string>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') q = false;
      else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows;
  return body
    .filter((r) => r.length > 1 || r[0] !== '')
    .map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
}

/** Well-formed XML 1.0, strictly: balanced tags, quoted attributes, only the five entities and numeric references. Returns the element names in document order. */
export function wellFormedXml(xml: string): string[] {
  // eslint-disable-next-line no-control-regex
  expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/);
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  expect(body, 'XML declaration').not.toBe(xml);
  const entity = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const stack: string[] = [];
  const elements: string[] = [];
  let roots = 0;
  let at = 0;
  while (at < body.length) {
    token.lastIndex = at;
    const m = token.exec(body);
    if (!m) throw new Error(`not XML at ${at}: ${JSON.stringify(body.slice(at, at + 40))}`);
    at = token.lastIndex;
    const [, close, name, attrs, selfClose, text] = m;
    if (text !== undefined) {
      expect(text, 'text').not.toMatch(entity);
      if (stack.length === 0) expect(text.trim()).toBe('');
      continue;
    }
    expect(attrs ?? '', 'attributes').not.toMatch(entity);
    if (close) {
      expect(stack.pop(), `closing ${name}`).toBe(name);
      continue;
    }
    elements.push(name!);
    if (stack.length === 0) roots++;
    if (!selfClose) stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  return elements;
}
