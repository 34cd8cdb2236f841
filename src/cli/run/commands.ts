// The run commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, negated, flag, text, choice, parsed, list } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

// Shared by `run` and `run plan`: both read a spec and the same overrides.
const specOverrides = {
  set: list(
    '--set <key=value>',
    'override the spec: params.<name>, inputs.<name>, resources.gpus|cpus, backend, priority, project (repeatable)',
  ),
  backend: choice('--backend <backend>', 'where the job runs', ['local', 'slurm']),
};

export const runSubmit = spec({
  path: 'run submit',
  args: ['spec?'],
  description: 'run a spec (default cairn.yaml); waits for the end unless --detach',
  isDefault: true,
  options: {
    ...specOverrides,
    force: flag('--force', 'run even if an identical run finished (cache hit)'),
    detach: flag('--detach', 'return once submitted; follow with cairn run wait / logs -f'),
    name: text('--name <name>', "the run's name (default: generated from its id, e.g. brave-otter-07)"),
    tag: list('--tag <key=value>', 'tag the run (repeatable); filter with cairn run ls --filter tags.key==value'),
    note: text('--note <text>', 'a note kept with the run'),
    quiet: flag('--quiet', "do not stream the job's output while waiting"),
  },
});

export const runPlan = spec({
  path: 'run plan',
  args: ['spec?'],
  description: 'say what `cairn run` would do: cache hit or not, and why; quota and budget',
  options: {
    ...specOverrides,
    force: flag('--force', 'plan as with --force'),
  },
});

// Tables as text (default), CSV or Markdown; --json gives the same data as one document.
const tableFormats = {
  csv: flag('--csv', 'print CSV'),
  md: flag('--md', 'print a Markdown table'),
};

export const runLs = spec({
  path: 'run ls',
  args: [],
  description: 'runs, newest first: filter, sort and show chosen params and metrics',
  options: {
    project: text('--project <name>', 'only this project'),
    status: text('--status <status>', 'only runs in this state (queued, pending, running, completed, failed, …)'),
    columns: text(
      '--columns <fields>',
      'extra columns, comma-separated: params.lr,metrics.acc,metrics.loss.min,tags.team',
    ),
    filter: text(
      '--filter <expr>',
      "e.g. 'metrics.acc > 0.9 and params.lr < 0.01' (and, or, not, ==, !=, <, <=, >, >=, ~)",
    ),
    sort: text('--sort <fields>', 'sort by these fields, comma-separated; -field sorts descending (e.g. -metrics.acc)'),
    limit: parsed('--limit <n>', 'at most n runs', parseCount, 50),
    ...tableFormats,
  },
});

export const runCompare = spec({
  path: 'run compare',
  args: ['runs...'],
  description: 'runs side by side: params that differ, metrics (last, min, max, best), durations and GPU-hours',
  argHelp: { runs: 'run ids, names or unique prefixes of either' },
  options: {
    all: flag('--all', 'show every param, not only those that differ'),
    lower: list('--lower-is-better <metric>', 'a metric whose best is its lowest (loss, error, … are already)'),
    higher: list('--higher-is-better <metric>', 'a metric whose best is its highest'),
    ...tableFormats,
  },
});

export const runShow = spec({
  path: 'run show',
  args: ['id'],
  description: 'a run: spec, code, inputs, params, metrics, usage, output',
  options: {},
});

export const runMetrics = spec({
  path: 'run metrics',
  args: ['id', 'name?'],
  description: "a run's metrics summarized, or one metric's curve in buckets (min, max, mean)",
  options: {
    buckets: parsed('--buckets <n>', 'buckets of the curve (1 to 100000)', parseCount, 100),
  },
});

export const runLogs = spec({
  path: 'run logs',
  args: ['id'],
  description: "a run's stdout (or --stderr)",
  options: {
    follow: flag('-f, --follow', 'keep printing until the run ends'),
    stderr: flag('--stderr', 'stderr instead of stdout'),
  },
});

export const runCancel = spec({
  path: 'run cancel',
  args: ['id'],
  description: 'cancel a run (SIGTERM, grace period, SIGKILL); waits for it to stop',
  options: {
    wait: negated('--no-wait', 'return at once'),
  },
});

export const runWait = spec({
  path: 'run wait',
  args: ['id'],
  description: 'wait until a run ends; exit 1 unless it completed',
  options: {
    timeout: parsed('--timeout <seconds>', 'give up after this long', parseCount),
  },
});

export const runWhy = spec({
  path: 'run why',
  args: ['id'],
  description: 'why a run waits (quota, resources, the backend) or how it ended, machine-readable with --json',
  options: {},
});
