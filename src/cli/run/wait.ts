import type { OptionsOf } from '../table/define.js';
import type { runWait } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { describeRun } from './show.js';

export async function run(id: string, opts: OptionsOf<typeof runWait>): Promise<void> {
  const ctx = commandContext(opts);
  const d = await withServices(opts, 'run wait', (s) =>
    s.runs.wait(id, opts.timeout ? { timeoutMs: opts.timeout * 1000 } : {}),
  );
  ctx.out.say(describeRun(d));
  if (['failed', 'cancelled', 'timeout', 'node_fail', 'refused'].includes(d.status))
    throw new CairnError('RUN_FAILED', `run ${d.id} ${d.status}`, {
      data: { run: d.id, status: d.status, details: d },
    });
  ctx.out.result(d);
}
