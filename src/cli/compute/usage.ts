import type { OptionsOf } from '../table/define.js';
import type { computeUsage } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof computeUsage>): Promise<void> {
  const ctx = commandContext(opts);
  const since = opts.since ? parseSince(opts.since) : undefined;
  const r = await withServices(opts, 'compute usage', (s) =>
    s.computeUsage.usage({ by: opts.by, ...(since ? { since } : {}) }),
  );
  ctx.out.result(r);
  ctx.out.say(`${opts.by.padEnd(24)} runs  GPU-h      cost (${r.currency})  idle GPU-h  saved GPU-h  CPU-h`);
  for (const u of [...r.rows, r.total])
    ctx.out.say(
      `${u.key.slice(0, 24).padEnd(24)} ${String(u.runs).padStart(4)}  ${u.gpuHours.toFixed(3).padStart(8)}  ${u.cost.toFixed(2).padStart(10)}  ${u.idleGpuHours === null ? '       n/a' : u.idleGpuHours.toFixed(3).padStart(10)}  ${u.savedGpuHours.toFixed(3).padStart(11)}  ${u.cpuHours.toFixed(3)}`,
    );
}

function parseSince(s: string): Date {
  const m = /^(\d+)\s*(h|d|w)$/.exec(s);
  if (m) return new Date(Date.now() - Number(m[1]) * { h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as 'h']!);
  const t = Date.parse(s);
  if (Number.isNaN(t))
    throw new CairnError('USAGE', `--since takes an age (12h, 7d, 4w) or an ISO time, not ${JSON.stringify(s)}`);
  return new Date(t);
}
