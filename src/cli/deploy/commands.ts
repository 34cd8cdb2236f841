// The deploy commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text, parsed } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

export const deploy = spec({
  path: 'deploy',
  args: ['ref'],
  description:
    'deploy a model version to an environment of .cairn/deploy.json (exit 1 unless it succeeded); ls, outbox flush',
  argHelp: { ref: 'the model version (spam, spam@v3, spam@staging, spam@sha256:…)' },
  options: {
    env: text('--env <env>', 'the environment (required)'),
  },
});

export const deployLs = spec({
  path: 'deploy ls',
  args: [],
  description: 'deployments, newest first',
  options: {
    env: text('--env <env>', 'only this environment'),
    model: text('--model <name>', 'only this model'),
    limit: parsed('--limit <n>', 'at most n deployments', parseCount),
  },
});

export const deployOutboxFlush = spec({
  path: 'deploy outbox flush',
  args: [],
  description: 'one attempt for every webhook delivery that is due (backoff; given up after 15 attempts)',
  options: {},
});

export const dora = spec({
  path: 'dora',
  args: [],
  description: 'DORA metrics from recorded deployments: frequency, lead time, change failure rate, time to restore',
  options: {
    model: text('--model <name>', 'only this model'),
    since: text('--since <age|time>', 'start of the window (30d, 12w or an ISO time)', '30d'),
    until: text('--until <time>', 'end of the window (default now)'),
  },
});
