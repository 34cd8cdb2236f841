import type { OptionsOf } from '../table/define.js';
import type { deployLs } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { describeDeployment } from './deploy.js';

/** `cairn deploy ls [--env <env>] [--model <name>] [--limit <n>]`: newest first. */
export async function run(opts: OptionsOf<typeof deployLs>): Promise<void> {
  const ctx = commandContext(opts);
  const deployments = await withServices(opts, 'deploy ls', (s) =>
    s.deployments.list({
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.limit ? { limit: opts.limit } : {}),
    }),
  );
  ctx.out.result({ deployments });
  if (!deployments.length) ctx.out.say('no deployments yet (deploy one: cairn deploy <model>@<version> --env <env>)');
  for (const d of deployments) ctx.out.say(describeDeployment(d));
}
