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

export const runLs = spec({
  path: 'run ls',
  args: [],
  description: 'runs, newest first',
  options: {
    project: text('--project <name>', 'only this project'),
    status: text('--status <status>', 'only runs in this state (queued, pending, running, completed, failed, …)'),
    limit: parsed('--limit <n>', 'at most n runs', parseCount, 50),
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
