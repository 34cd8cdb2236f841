import type { OptionsOf } from '../table/define.js';
import type { dataHold } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataHold>): Promise<void> {
  const ctx = commandContext(opts);
  const h = await withServices(opts, 'data hold', (s) =>
    s.compliance.hold(ref, { reason: opts.reason, ...(opts.retainUntil ? { retainUntil: opts.retainUntil } : {}) }),
  );
  ctx.out.result(h);
  ctx.out.say(
    h.kind === 'retention'
      ? `${h.ref}: retained until ${h.until} (hold ${h.id}); erasure is refused until then`
      : `${h.ref}: legal hold ${h.id}; erasure is refused until cairn data release-hold ${ref} --reason …`,
  );
}
