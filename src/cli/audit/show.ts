import type { OptionsOf } from '../table/define.js';
import type { auditShow } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(index: string, opts: OptionsOf<typeof auditShow>): Promise<void> {
  const ctx = commandContext(opts);
  const n = Number(index);
  if (!Number.isInteger(n) || n < 0)
    throw new CairnError('USAGE', `event index must be a whole number, got ${JSON.stringify(index)}`);
  const v = await withServices(opts, 'audit show', (s) => s.audit.event(n));
  if (v.tampered) {
    // Shown, but not as the log's word: the stored bytes are not what its leaf committed to.
    ctx.out.say(typeof v.event === 'string' ? v.event : JSON.stringify(v.event, null, 2));
    throw new CairnError(
      'CHECK_FAILED',
      `entry ${n} was tampered with: its stored bytes no longer hash to its leaf ${v.leafHash}, so what it says is not what the log recorded`,
      {
        data: { index: n, leafHash: v.leafHash, tampered: true, stored: v.event },
        hint: 'run `cairn audit verify` to see every damaged entry',
      },
    );
  }
  ctx.out.result({ index: n, leafHash: v.leafHash, event: v.event });
  ctx.out.say(JSON.stringify(v.event, null, 2));
  ctx.out.say(`leaf hash: ${v.leafHash}`);
}
