import type { OptionsOf } from '../table/define.js';
import type { computeProjectSet } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof computeProjectSet>): Promise<void> {
  const ctx = commandContext(opts);
  const num = (v: string | undefined) => (v === undefined ? undefined : v === 'none' ? null : Number(v));
  const r = await withServices(opts, 'compute project set', (s) =>
    s.computeUsage.setProject(name, {
      ...(opts.gpuQuota !== undefined ? { gpuQuota: num(opts.gpuQuota)! } : {}),
      ...(opts.budget !== undefined ? { budgetGpuHours: num(opts.budget)! } : {}),
      ...(opts.period ? { period: opts.period } : {}),
    }),
  );
  ctx.out.result(r);
  ctx.out.say(
    `project ${r.name}: GPU quota ${r.gpuQuota ?? 'unlimited'}, budget ${r.budgetGpuHours ?? 'unlimited'} GPU-hours per ${r.period}`,
  );
}
