import { extname } from 'node:path';
import { CairnError } from '../../core/errors.js';

/** `json`: a file holding one JSON array of records (`.json` whose text starts with `[`). */
export type TabularFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet';

const BY_EXTENSION: Record<string, TabularFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
  '.pq': 'parquet',
};

/** Whether a `.json` file's first bytes open an array (after a BOM and whitespace). */
export function looksLikeJsonArray(head: Buffer): boolean {
  const text = head
    .subarray(0, 4096)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  return /^\s*\[/.test(text);
}

export function isJsonPath(path: string): boolean {
  return extname(path).toLowerCase() === '.json';
}

export function tabularFormatOf(path: string): TabularFormat | null {
  return BY_EXTENSION[extname(path).toLowerCase()] ?? null;
}

export interface TableSource {
  format: TabularFormat;
  /** Paths inside the version, sorted. */
  paths: string[];
}

/**
 * The table a version holds: all its tabular files of one format, read as one table (their
 * union). Other files (README, licences) are ignored; mixing formats is an error unless one
 * file is chosen.
 */
export function tableSourceOf(
  paths: readonly string[],
  only?: string,
  jsonArrays: ReadonlySet<string> = new Set(),
): TableSource | null {
  const chosen = only ? paths.filter((p) => p === only) : paths;
  if (only && chosen.length === 0) throw new CairnError('NOT_FOUND', `the version has no file ${JSON.stringify(only)}`);
  const byFormat = new Map<TabularFormat, string[]>();
  for (const p of chosen) {
    const f = tabularFormatOf(p);
    if (f) byFormat.set(f, [...(byFormat.get(f) ?? []), p]);
  }
  // JSON arrays are a table only where nothing else is (a JSON array of metadata next to a CSV
  // leaves the CSV the table, as before), or when chosen with --file.
  const arrays = chosen.filter((p) => jsonArrays.has(p));
  if (arrays.length > 0 && (byFormat.size === 0 || only)) byFormat.set('json', arrays);
  if (byFormat.size === 0) return null;
  if (byFormat.size > 1) {
    throw new CairnError('INVALID_INPUT', `the version mixes tabular formats (${[...byFormat.keys()].join(', ')})`, {
      hint: 'choose one file with --file <path>',
    });
  }
  const [format, list] = [...byFormat][0]!;
  return { format, paths: [...list].sort() };
}
