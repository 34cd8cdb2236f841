import type { OptionsOf } from '../table/define.js';
import type { dataReleaseHold } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataReleaseHold>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data release-hold', (s) =>
    s.compliance.releaseHold(ref, { reason: opts.reason, ...(opts.id ? { holdId: opts.id } : {}) }),
  );
  ctx.out.result(r);
  ctx.out.say(r.map((h) => `${h.ref}: legal hold ${h.id} lifted`).join('\n'));
}
