import { listEvents } from '../../audit/service/audit-service.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';
import { table } from '../format.js';

export async function run(opts: GlobalOptions & { actor?: string; action?: string; target?: string; outcome?: string; since?: string; until?: string; limit?: number }): Promise<void> {
  const ctx = commandContext(opts);
  const events = await withWorkspace(opts, 'audit log', (ws) => listEvents(ws, opts));
  ctx.out.result(events.map((e) => e.event));
  ctx.out.say(table(events.map((e) => [String(e.index), e.time, e.actor, e.action, e.target, e.outcome]), ['#', 'TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME']));
}
