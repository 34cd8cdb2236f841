import type { OptionsOf } from '../table/define.js';
import type { runWhy } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { describeReason } from './show.js';

/** The machine-readable reason a run waits, was refused or ended as it did. */
export async function run(id: string, opts: OptionsOf<typeof runWhy>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'run why', (s) => s.runs.why(id));
  const reason = r.reason as Parameters<typeof describeReason>[0] | null;
  ctx.out.result({ id: r.id, status: r.status, reason });
  ctx.out.say(
    reason
      ? describeReason(reason, '  ')
          .map((l, i) => (i === 0 ? `${r.status}: ${l}` : l))
          .join('\n')
      : `${r.status}: nothing is holding it`,
  );
}
