import type { OptionsOf } from '../table/define.js';
import type { deploy } from './commands.js';
import { CairnError } from '../../core/errors.js';
import type { DeploymentView } from '../../models/index.js';
import { commandContext, withServices } from '../context.js';

export function describeDeployment(d: DeploymentView): string {
  const took = d.endedAt ? ` (${d.startedAt} → ${d.endedAt})` : ` (started ${d.startedAt})`;
  return `${d.id}  ${d.status.padEnd(11)}  ${d.version} -> ${d.env}${d.alias ? ` [${d.alias}]` : ''}${d.previous ? `, was ${d.previous}` : ''}  by ${d.by}${took}${d.error ? `\n    ${d.error}` : ''}`;
}

/** `cairn deploy <ref> --env <env>`: exit 1 unless the deployment succeeded. */
export async function run(ref: string, opts: OptionsOf<typeof deploy>): Promise<void> {
  const ctx = commandContext(opts);
  // --env is checked here, not by commander: a required option on `deploy` would be demanded of `deploy ls` too.
  const env = opts.env;
  if (!env)
    throw new CairnError('USAGE', 'name the environment: cairn deploy <ref> --env <env>', {
      hint: 'the environments are those in .cairn/deploy.json (see docs/DEPLOY.md)',
    });
  const d = await withServices(opts, 'deploy', (s) => s.deployments.deploy(ref, env));
  ctx.out.say(describeDeployment(d));
  if (d.status !== 'succeeded') {
    throw new CairnError(
      'CHECK_FAILED',
      `deployment ${d.id} of ${d.version} to ${d.env} ${d.status === 'rolled_back' ? 'failed and was rolled back' : 'failed'}: ${d.error ?? 'unknown error'}`,
      {
        data: { deployment: d },
        hint: `its hook and health-check output is in .cairn/deploy/${d.id}/; see cairn deploy ls --env ${d.env}`,
      },
    );
  }
  ctx.out.result(d);
}
