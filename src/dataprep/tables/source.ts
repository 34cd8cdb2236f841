import { extname } from 'node:path';
import { CairnError } from '../../core/errors.js';

export type TabularFormat = 'csv' | 'tsv' | 'jsonl' | 'parquet';

const BY_EXTENSION: Record<string, TabularFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
  '.pq': 'parquet',
};

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
export function tableSourceOf(paths: readonly string[], only?: string): TableSource | null {
  const chosen = only ? paths.filter((p) => p === only) : paths;
  if (only && chosen.length === 0) throw new CairnError('NOT_FOUND', `the version has no file ${JSON.stringify(only)}`);
  const byFormat = new Map<TabularFormat, string[]>();
  for (const p of chosen) {
    const f = tabularFormatOf(p);
    if (f) byFormat.set(f, [...(byFormat.get(f) ?? []), p]);
  }
  if (byFormat.size === 0) return null;
  if (byFormat.size > 1) {
    throw new CairnError('INVALID_INPUT', `the version mixes tabular formats (${[...byFormat.keys()].join(', ')})`, {
      hint: 'choose one file with --file <path>',
    });
  }
  const [format, list] = [...byFormat][0]!;
  return { format, paths: [...list].sort() };
}
