import type { OptionsOf } from '../table/define.js';
import type { auditLog } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { table } from '../format.js';

export async function run(opts: OptionsOf<typeof auditLog>): Promise<void> {
  const ctx = commandContext(opts);
  const events = await withServices(opts, 'audit log', (s) => s.audit.events(opts));
  // Each event exactly as its entry says; one whose entry no longer hashes to its leaf is
  // flagged: what it says is not what the log committed to.
  ctx.out.result(
    events.map((e) =>
      e.tampered
        ? { ...(typeof e.event === 'object' ? e.event : { entry: e.event }), index: e.index, tampered: true }
        : e.event,
    ),
  );
  ctx.out.say(
    table(
      events.map((e) => [
        String(e.index),
        e.time,
        e.actor,
        e.action,
        e.target,
        e.tampered ? `${e.outcome} TAMPERED` : e.outcome,
      ]),
      ['#', 'TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME'],
    ),
  );
  const bad = events.filter((e) => e.tampered);
  if (bad.length)
    ctx.out.note(
      `warning: ${bad.length} entr${bad.length === 1 ? 'y does' : 'ies do'} not match the log's leaf hash (${bad
        .slice(0, 10)
        .map((e) => `#${e.index}`)
        .join(', ')}): shown as stored, marked TAMPERED; run \`cairn audit verify\``,
    );
}
