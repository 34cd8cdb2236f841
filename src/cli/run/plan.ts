import type { OptionsOf } from '../table/define.js';
import type { runPlan } from './commands.js';
import { prepareRun } from '../../compute/runs/prepare.js';
import { planRun } from '../../compute/runs/queries.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(spec: string | undefined, opts: OptionsOf<typeof runPlan>): Promise<void> {
  const ctx = commandContext(opts);
  const plan = await withWorkspace(opts, 'run plan', async (ws) =>
    planRun(
      ws,
      await prepareRun(ws, spec ?? 'cairn.yaml', {
        sets: opts.set,
        ...(opts.backend ? { backend: opts.backend } : {}),
      }),
      opts.force === true,
    ),
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
