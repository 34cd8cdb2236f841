import type { OptionsOf } from '../table/define.js';
import type { auditShow } from './commands.js';
import { getEvent, viewOf } from '../../audit/service/audit-service.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(index: string, opts: OptionsOf<typeof auditShow>): Promise<void> {
  const ctx = commandContext(opts);
  const n = Number(index);
  if (!Number.isInteger(n) || n < 0)
    throw new CairnError('USAGE', `event index must be a whole number, got ${JSON.stringify(index)}`);
  const row = await withWorkspace(opts, 'audit show', (ws) => getEvent(ws, n));
  const v = viewOf(row);
  if (v.tampered) {
    // Shown, but not as the log's word: the stored bytes are not what its leaf committed to.
    ctx.out.say(typeof v.event === 'string' ? v.event : JSON.stringify(v.event, null, 2));
    throw new CairnError(
      'CHECK_FAILED',
      `entry ${n} was tampered with: its stored bytes no longer hash to its leaf ${row.leaf_hash}, so what it says is not what the log recorded`,
      {
        data: { index: n, leafHash: row.leaf_hash, tampered: true, stored: v.event },
        hint: 'run `cairn audit verify` to see every damaged entry',
      },
    );
  }
  ctx.out.result({ index: n, leafHash: row.leaf_hash, event: v.event });
  ctx.out.say(JSON.stringify(v.event, null, 2));
  ctx.out.say(`leaf hash: ${row.leaf_hash}`);
}
