import type { OptionsOf } from '../table/define.js';
import type { computeProjectLs } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof computeProjectLs>): Promise<void> {
  const ctx = commandContext(opts);
  const ps = await withServices(opts, 'compute project ls', (s) => s.computeUsage.projects());
  ctx.out.result({ projects: ps });
  if (!ps.length) ctx.out.say('no projects with quotas or budgets (runs without one are unlimited)');
  for (const p of ps)
    ctx.out.say(
      `${p.name}: GPU quota ${p.gpuQuota ?? 'unlimited'}, budget ${p.budgetGpuHours ?? 'unlimited'} GPU-hours per ${p.period}`,
    );
}
