import type { OptionsOf } from '../table/define.js';
import type { dora } from './commands.js';
import { commandContext, withServices } from '../context.js';

const dur = (s: number | null): string => {
  if (s === null) return '-';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
};

/** `cairn dora [--model <name>] [--since 30d] [--until <time>]`. */
export async function run(opts: OptionsOf<typeof dora>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'dora', (s) =>
    s.deployments.dora({
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.since ? { since: opts.since } : {}),
      ...(opts.until ? { until: opts.until } : {}),
    }),
  );
  ctx.out.result(r);
  const why = (reason: string | null) => (reason ? `  (${reason})` : '');
  ctx.out.say(
    `DORA metrics${r.model ? ` for ${r.model}` : ''}, ${r.window.since} → ${r.window.until} (${Number(r.window.days.toFixed(2))} days)`,
  );
  const f = r.deploymentFrequency;
  ctx.out.say(
    `  deployment frequency  ${f.perDay === null ? '-' : `${f.perDay.toFixed(2)}/day, ${f.perWeek!.toFixed(2)}/week (${f.deployments} to production)`}${why(f.reason)}`,
  );
  const l = r.leadTime;
  ctx.out.say(
    `  lead time for changes median ${dur(l.medianS)}, p90 ${dur(l.p90S)} (${l.versions} version(s))${why(l.reason)}`,
  );
  const c = r.changeFailureRate;
  ctx.out.say(
    `  change failure rate   ${c.rate === null ? '-' : `${(c.rate * 100).toFixed(1)}% (${c.failed} of ${c.total})`}${why(c.reason)}`,
  );
  const t = r.timeToRestore;
  ctx.out.say(
    `  time to restore       median ${dur(t.medianS)} (${t.restored} restored, ${t.unrestored} not yet)${why(t.reason)}`,
  );
  ctx.out.say(`  production = ${r.production}`);
}
