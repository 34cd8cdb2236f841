// The data commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text, required, choice, parsed, list } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

export const dataAdd = spec({
  path: 'data add',
  args: ['path'],
  description: 'snapshot a file or directory as the next immutable version of a dataset',
  options: {
    name: required('--name <dataset>', 'dataset name (letters, digits, . _ - and / between parts)'),
    message: text('-m, --message <text>', 'what changed and why', ''),
    from: list('--from <ref>', 'a dataset version this one was derived from (repeatable; recorded as lineage)'),
  },
});

export const dataLs = spec({
  path: 'data ls',
  args: [],
  description: 'list datasets',
  options: {},
});

export const dataLog = spec({
  path: 'data log',
  args: ['name'],
  description: 'versions of a dataset, newest first',
  options: {},
});

export const dataShow = spec({
  path: 'data show',
  args: ['ref'],
  description: 'a version: files, sizes, digests, stats, parents',
  options: {
    limit: parsed('--limit <n>', 'list at most n files', parseCount, 100),
    all: flag('--all', 'list every file'),
  },
});

export const dataDiff = spec({
  path: 'data diff',
  args: ['from', 'to'],
  description: 'added, removed and modified paths between two versions; for tables, schema and row changes by key',
  options: {
    key: text(
      '--key <cols>',
      'key columns matching rows of two table versions (comma-separated; default: an id-like column)',
    ),
    file: text('--file <path>', 'the table file to compare, when a version holds several'),
    samples: parsed('--samples <n>', 'rows shown of each kind of change', parseCount, 5),
  },
});

export const dataCheckout = spec({
  path: 'data checkout',
  args: ['ref', 'dir'],
  description: 'materialize a version into a directory',
  options: {
    force: flag('--force', 'overwrite local changes'),
    link: choice('--link <mode>', 'how files are placed', ['auto', 'copy', 'reflink', 'hardlink'], 'auto'),
  },
});

export const dataTag = spec({
  path: 'data tag',
  args: ['ref', 'tag'],
  description: 'give a version a stable name (dataset@tag)',
  options: {
    force: flag('--force', 'move the tag if it points elsewhere'),
  },
});

export const dataStatus = spec({
  path: 'data status',
  args: ['path'],
  description: "what changed in a directory since the dataset's latest version",
  options: {
    name: required('--name <dataset>', 'dataset to compare with'),
  },
});

export const dataReport = spec({
  path: 'data report',
  args: ['ref'],
  description: 'print a report stored with a version (the newest, or of --kind)',
  options: {
    kind: choice('--kind <kind>', 'which report', ['profile', 'validation', 'clean', 'leakage']),
  },
});
