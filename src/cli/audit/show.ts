import { getEvent } from '../../audit/service/audit-service.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(index: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  const n = Number(index);
  if (!Number.isInteger(n) || n < 0) throw new CairnError('USAGE', `event index must be a whole number, got ${JSON.stringify(index)}`);
  const row = await withWorkspace(opts, 'audit show', (ws) => getEvent(ws, n));
  const event = JSON.parse(row.entry);
  ctx.out.result({ index: n, leafHash: row.leaf_hash, event });
  ctx.out.say(JSON.stringify(event, null, 2));
  ctx.out.say(`leaf hash: ${row.leaf_hash}`);
}
