// The dataprep commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text, required, choice, parsed } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

export const dataProfile = spec({
  path: 'data profile',
  args: ['ref'],
  description: 'per-column statistics (or file statistics) in one scan, stored with the version',
  options: {
    file: text('--file <path>', 'profile one tabular file of the version'),
  },
});

export const dataValidate = spec({
  path: 'data validate',
  args: ['ref'],
  description: 'run a validation suite; exit 1 when an error-severity check fails',
  options: {
    suite: required('--suite <file>', 'suite YAML (docs/DATAPREP.md)'),
    junit: text('--junit <file>', 'also write a JUnit XML report'),
    html: text('--html <file>', 'also write an HTML report'),
    file: text('--file <path>', 'validate one tabular file of the version'),
    profile: flag('--profile', 'also profile the version from the same load and store the profile (as data profile)'),
  },
});

export const dataSuiteInfer = spec({
  path: 'data suite infer',
  args: ['ref'],
  description: 'write a starting suite inferred from the data',
  options: {
    out: text('-o, --out <file>', 'write the suite to a file (default: stdout)'),
    file: text('--file <path>', 'infer from one tabular file of the version'),
  },
});

export const dataClean = spec({
  path: 'data clean',
  args: ['ref'],
  description: 'apply a cleaning recipe; the result is the next version of --name',
  options: {
    recipe: required('--recipe <file>', 'recipe YAML (docs/DATAPREP.md)'),
    name: required('--name <dataset>', 'dataset to record the result in'),
    message: text('-m, --message <text>', 'version message'),
    file: text('--file <path>', 'clean one tabular file of the version'),
    format: choice('--format <format>', 'tables: write data.parquet or data.csv', ['parquet', 'csv'], 'parquet'),
  },
});

export const dataSplit = spec({
  path: 'data split',
  args: ['ref'],
  description: 'deterministic train/test splits as versions <name>/<split>, with a leakage report',
  options: {
    name: required('--name <dataset>', 'base name; splits become <name>/<split>'),
    ratios: required('--ratios <list>', 'e.g. train=0.8,test=0.2'),
    key: text('--key <cols>', "columns whose values decide a row's split (default: all)"),
    stratify: text('--stratify <col>', 'keep class ratios equal (files: stratify by label)'),
    group: text('--group <col>', 'never split a group (files: a manifest column)'),
    time: text('--time <col>', 'every test row later than every train row'),
    cutoff: text('--cutoff <time>', 'fixed time cut-off(s) for --time (stable when rows are added)'),
    seed: parsed('--seed <n>', 'hash seed', parseCount, 0),
    text: text('--text <col>', 'check this text column for near-duplicates across splits'),
    labels: choice('--labels <from>', 'file collections: where labels come from', ['folder', 'manifest']),
    manifest: text('--manifest <path>', 'file collections: manifest (CSV or JSONL) inside the version'),
    allowLeakage: flag('--allow-leakage', 'record the splits even if the leakage report has errors (audited)'),
    file: text('--file <path>', 'split one tabular file of the version'),
    format: choice(
      '--format <format>',
      'tables: write each split as data.parquet or data.csv',
      ['parquet', 'csv'],
      'parquet',
    ),
  },
});
