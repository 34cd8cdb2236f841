// The compute commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text, choice } from '../table/define.js';

export const computeUsage = spec({
  path: 'compute usage',
  args: [],
  description: 'GPU-hours, cost, idle GPU-hours and GPU-hours saved by cache hits',
  options: {
    by: choice('--by <what>', 'group by', ['project', 'user', 'run'], 'project'),
    since: text('--since <age|time>', 'only runs created since (12h, 7d, 4w or an ISO time)'),
  },
});

export const computeProjectSet = spec({
  path: 'compute project set',
  args: ['name'],
  description: 'set a GPU quota (concurrent GPUs) and a budget (GPU-hours per period); "none" removes one',
  options: {
    gpuQuota: text('--gpu-quota <n>', 'concurrent GPUs'),
    budget: text('--budget <gpu-hours>', 'GPU-hours per period'),
    period: choice('--period <period>', 'budget period', ['day', 'week', 'month']),
  },
});

export const computeProjectLs = spec({
  path: 'compute project ls',
  args: [],
  description: 'projects and their limits',
  options: {},
});
