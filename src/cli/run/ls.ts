import type { OptionsOf } from '../table/define.js';
import type { runLs } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof runLs>): Promise<void> {
  const ctx = commandContext(opts);
  const runs = await withServices(opts, 'run ls', (s) => s.runs.list(opts));
  ctx.out.result({ runs });
  if (!runs.length) ctx.out.say('no runs yet (start one: cairn run cairn.yaml)');
  for (const r of runs)
    ctx.out.say(
      `${r.id}  ${r.status.padEnd(9)}  ${r.name}  ${r.project}  ${r.backend}${r.gpus ? `  ${r.gpus} GPU` : ''}  ${r.createdAt}${r.reason && r.status === 'queued' ? `  (${(r.reason as { code: string }).code})` : ''}`,
    );
}
