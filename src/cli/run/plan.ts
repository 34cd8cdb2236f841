import type { OptionsOf } from '../table/define.js';
import type { runPlan } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(spec: string | undefined, opts: OptionsOf<typeof runPlan>): Promise<void> {
  const ctx = commandContext(opts);
  const plan = await withServices(opts, 'run plan', (s) =>
    s.runs.plan({
      spec: spec ?? 'cairn.yaml',
      sets: opts.set,
      ...(opts.backend ? { backend: opts.backend } : {}),
      force: opts.force === true,
    }),
  );
  ctx.out.result(plan);
  ctx.out.say(`run key sha256:${plan.runKey}`);
  if (plan.cacheHit)
    ctx.out.say(
      `cache hit: run ${plan.cacheHit.run} (finished ${plan.cacheHit.finishedAt}) would be reused; nothing would execute`,
    );
  else {
    ctx.out.say(
      `would execute on ${plan.backend} (${plan.resources.gpus} GPU, ${plan.resources.cpus} CPU${plan.resources.timeLimitS ? `, ${plan.resources.timeLimitS} s limit` : ''}) because:`,
    );
    for (const w of plan.why) ctx.out.say(`  - ${w}`);
    if (plan.budget) ctx.out.say(`would be REFUSED: ${(plan.budget as { message: string }).message}`);
    else if (plan.quota) ctx.out.say(`would WAIT: ${(plan.quota as { message: string }).message}`);
  }
}
