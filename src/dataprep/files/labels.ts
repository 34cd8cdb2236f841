import { posix } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { readRange, type FileInfo, type ReadFile } from './source.js';

/**
 * Labels of a file collection: from each file's top folder (`spam/0001.txt` → `spam`), or from
 * a manifest inside the version — CSV with a header naming `path` and the label column, or
 * JSON Lines of objects with those fields. Manifest paths are relative to the manifest's
 * folder; `./` prefixes are ignored.
 */
export interface LabelSpec {
  from: 'folder' | 'manifest';
  /** Path of the manifest in the version; default: the first of DEFAULT_MANIFESTS present. */
  manifest?: string;
  /** The label field of the manifest; default `label`. */
  column?: string;
}

export const DEFAULT_MANIFESTS = ['labels.csv', 'labels.jsonl', 'manifest.csv', 'manifest.jsonl'];

export interface LabelScan {
  /** path → label, for the files that have one. */
  labels: Map<string, string>;
  /** The manifest's path, when labels come from one (it carries no label itself). */
  manifest: string | null;
  /** Files the manifest gives two different labels, with the labels. */
  conflicts: Map<string, string[]>;
  /** Manifest paths that name no file of the version. */
  unknown: string[];
}

/** Reads the labels; throws INVALID_INPUT for a missing or malformed manifest. */
export async function scanLabels(files: readonly FileInfo[], spec: LabelSpec, read: ReadFile): Promise<LabelScan> {
  if (spec.from === 'folder') {
    const labels = new Map<string, string>();
    for (const f of files) {
      const slash = f.path.indexOf('/');
      if (slash > 0) labels.set(f.path, f.path.slice(0, slash));
    }
    return { labels, manifest: null, conflicts: new Map(), unknown: [] };
  }
  const byPath = new Map(files.map((f) => [f.path, f]));
  const name = spec.manifest ?? DEFAULT_MANIFESTS.find((m) => byPath.has(m));
  if (!name) {
    throw new CairnError(
      'INVALID_INPUT',
      `labels come from a manifest, but the version has none of ${DEFAULT_MANIFESTS.join(', ')}`,
      { hint: 'name it with `manifest: <path>`' },
    );
  }
  const file = byPath.get(name.replace(/^\.\//, ''));
  if (!file)
    throw new CairnError('INVALID_INPUT', `the label manifest ${name} is not in the version`, {
      hint: 'manifest paths are relative to the version root',
    });
  const text = (await readRange(read, file, 0, file.size)).toString('utf8').replace(/^\uFEFF/, '');
  const column = spec.column ?? 'label';
  const rows = /\.(jsonl|ndjson)$/i.test(file.path)
    ? jsonlRows(text, file.path, column)
    : csvRows(text, file.path, column, /\.tsv$/i.test(file.path) ? '\t' : ',');
  const dir = posix.dirname(file.path);
  const labels = new Map<string, string>();
  const conflicts = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const row of rows) {
    const rel = posix.normalize(row.path.replace(/^\.\//, ''));
    const path = dir === '.' ? rel : posix.join(dir, rel);
    if (!byPath.has(path) || path === file.path) {
      unknown.push(row.path);
      continue;
    }
    if (row.label === null) continue;
    const prev = labels.get(path);
    if (prev !== undefined && prev !== row.label) {
      const c = conflicts.get(path) ?? [prev];
      if (!c.includes(row.label)) c.push(row.label);
      conflicts.set(path, c);
    } else labels.set(path, row.label);
  }
  for (const p of conflicts.keys()) labels.delete(p);
  return { labels, manifest: file.path, conflicts, unknown };
}

/**
 * path → label for every labelled file (for stratified splits). A file the manifest labels
 * twice, differently, is an error: no split can honour both.
 */
export async function labelsOf(
  files: readonly FileInfo[],
  spec: LabelSpec,
  read: ReadFile,
): Promise<Map<string, string>> {
  const scan = await scanLabels(files, spec, read);
  const [path, labels] = scan.conflicts.entries().next().value ?? [];
  if (path !== undefined) {
    throw new CairnError(
      'INVALID_INPUT',
      `${scan.manifest} gives ${path} ${labels?.length ?? 2} different labels (${(labels ?? []).map((l) => JSON.stringify(l)).join(', ')})`,
      { hint: 'keep one line per file' },
    );
  }
  return scan.labels;
}

/**
 * The manifest cut down to the files of one split: the header (CSV) and the records whose file
 * is in `keep`, byte for byte as they were, in their order. A split then carries its own
 * labels and none of another split's.
 */
export function filterManifest(manifestPath: string, text: string, keep: ReadonlySet<string>): string {
  const dir = posix.dirname(manifestPath);
  const resolve = (p: string) => {
    const rel = posix.normalize(p.replace(/^\.\//, ''));
    return dir === '.' ? rel : posix.join(dir, rel);
  };
  const end = (s: string) => (s === '' || s.endsWith('\n') ? s : `${s}\n`);
  if (/\.(jsonl|ndjson)$/i.test(manifestPath)) {
    return text
      .split('\n')
      .filter((line) => {
        if (line.trim() === '') return false;
        const o = JSON.parse(line) as { path: string };
        return keep.has(resolve(o.path));
      })
      .map((l) => `${l}\n`)
      .join('');
  }
  const records = parseCsv(text, manifestPath, /\.tsv$/i.test(manifestPath) ? '\t' : ',');
  const header = records.shift();
  if (!header) return '';
  const pi = header.fields.indexOf('path');
  const kept = records.filter((r) => keep.has(resolve(r.fields[pi] ?? '')));
  return [header, ...kept].map((r) => end(text.slice(r.start, r.end))).join('');
}

interface Row {
  path: string;
  label: string | null;
}

function jsonlRows(text: string, name: string, column: string): Row[] {
  const rows: Row[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new CairnError('INVALID_INPUT', `${name}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v))
      throw new CairnError(
        'INVALID_INPUT',
        `${name}:${i + 1}: expected an object with "path" and ${JSON.stringify(column)}`,
      );
    const o = v as Record<string, unknown>;
    if (typeof o.path !== 'string' || o.path === '')
      throw new CairnError('INVALID_INPUT', `${name}:${i + 1}: "path" must be a non-empty string`);
    const l = o[column];
    if (l !== undefined && l !== null && typeof l === 'object')
      throw new CairnError(
        'INVALID_INPUT',
        `${name}:${i + 1}: ${JSON.stringify(column)} must be a string, number or boolean`,
      );
    rows.push({ path: o.path, label: l === undefined || l === null || l === '' ? null : String(l) });
  });
  return rows;
}

function csvRows(text: string, name: string, column: string, sep: string): Row[] {
  const records = parseCsv(text, name, sep);
  const header = records.shift();
  if (!header) throw new CairnError('INVALID_INPUT', `${name} is empty; expected a header with path and ${column}`);
  const pi = header.fields.indexOf('path');
  const li = header.fields.indexOf(column);
  if (pi < 0 || li < 0) {
    throw new CairnError(
      'INVALID_INPUT',
      `${name}:1: the header must name "path" and ${JSON.stringify(column)} (found ${header.fields.map((h) => JSON.stringify(h)).join(', ')})`,
    );
  }
  return records.map((r) => {
    if (r.fields.length !== header.fields.length)
      throw new CairnError(
        'INVALID_INPUT',
        `${name}:${r.line}: ${r.fields.length} fields where the header has ${header.fields.length}`,
      );
    const path = r.fields[pi] as string;
    if (path === '') throw new CairnError('INVALID_INPUT', `${name}:${r.line}: empty path`);
    const label = r.fields[li] as string;
    return { path, label: label === '' ? null : label };
  });
}

/** RFC 4180 records (quoted fields, doubled quotes, CRLF or LF), skipping blank lines. */
function parseCsv(
  text: string,
  name: string,
  sep: string,
): Array<{ line: number; fields: string[]; start: number; end: number }> {
  const out: Array<{ line: number; fields: string[]; start: number; end: number }> = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const start = line;
    const from = i;
    const fields: string[] = [];
    let blank = true;
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        blank = false;
        i++;
        for (;;) {
          if (i >= text.length) throw new CairnError('INVALID_INPUT', `${name}:${start}: unterminated quoted field`);
          const c = text[i] as string;
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < text.length && text[i] !== sep && text[i] !== '\n' && text[i] !== '\r')
          throw new CairnError('INVALID_INPUT', `${name}:${line}: text after a closing quote`);
      } else {
        while (i < text.length && text[i] !== sep && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
        if (field !== '') blank = false;
      }
      fields.push(field);
      if (text[i] === sep) {
        blank = false;
        i++;
        continue;
      }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    line++;
    if (!blank) out.push({ line: start, fields, start: from, end: i });
  }
  return out;
}
