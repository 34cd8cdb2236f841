import type { OptionsOf } from '../table/define.js';
import type { runMetrics } from './commands.js';
import { commandContext, withServices } from '../context.js';

/** A run's metrics: every one summarized, or one metric's curve downsampled by the database. */
export async function run(id: string, name: string | undefined, opts: OptionsOf<typeof runMetrics>): Promise<void> {
  const ctx = commandContext(opts);
  await withServices(opts, 'run metrics', async (svc) => {
    if (!name) {
      const { id: runId, metrics } = await svc.runs.metrics(id);
      ctx.out.result({ id: runId, metrics });
      if (!metrics.length) ctx.out.say(`run ${runId} logged no metrics`);
      for (const m of metrics)
        ctx.out.say(
          `${m.name}: ${m.points} points, last ${m.last}${m.lastStep !== null ? ` @ step ${m.lastStep}` : ''} (${m.lastTime}), min ${m.min}, max ${m.max}${m.firstStep !== null ? `, steps ${m.firstStep}–${m.lastStep}` : ''}`,
        );
      return;
    }
    const s = await svc.runs.metricSeries(id, name, opts.buckets);
    ctx.out.result(s);
    ctx.out.say(`${s.name}: ${s.points} points in ${s.buckets.length} buckets by ${s.by}`);
    ctx.out.say(
      `${(s.by === 'step' ? 'steps' : 'from').padEnd(26)}  ${'count'.padStart(8)}  ${'min'.padStart(12)}  ${'mean'.padStart(12)}  ${'max'.padStart(12)}`,
    );
    const g = (v: number) => v.toPrecision(6).padStart(12);
    for (const b of s.buckets)
      ctx.out.say(
        `${(b.steps ? `${b.steps[0]}–${b.steps[1]}` : (b.times?.[0] ?? '')).padEnd(26)}  ${String(b.count).padStart(8)}  ${g(b.min)}  ${g(b.mean)}  ${g(b.max)}`,
      );
  });
}
