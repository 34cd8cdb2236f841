import type { OptionsOf } from '../table/define.js';
import type { deployOutboxFlush } from './commands.js';
import { commandContext, withServices } from '../context.js';

/** `cairn deploy outbox flush`: one attempt for every webhook delivery that is due. */
export async function run(opts: OptionsOf<typeof deployOutboxFlush>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'deploy outbox flush', (s) => s.deployments.flushOutbox());
  ctx.out.result(r);
  if (!r.flushed.length) ctx.out.say('nothing is due');
  for (const f of r.flushed) {
    const what = f.delivered
      ? 'delivered'
      : f.gaveUp
        ? `given up after ${f.attempts} attempts`
        : `failed (${f.error}), next attempt ${f.nextAttemptAt}`;
    ctx.out.say(
      `${f.delivery}  ${f.action} of deployment ${f.deployment} to ${f.url}: ${what}; deployment ${f.deploymentStatus}`,
    );
  }
  for (const w of r.waiting) ctx.out.say(`${w.delivery}  deployment ${w.deployment}: next attempt ${w.nextAttemptAt}`);
}
