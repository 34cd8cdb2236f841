import type { OptionsOf } from '../table/define.js';
import type { modelHistory } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelHistory>): Promise<void> {
  const ctx = commandContext(opts);
  const at = opts.at ? new Date(opts.at) : undefined;
  if (at && Number.isNaN(at.getTime()))
    throw new CairnError('USAGE', `--at takes an ISO time, not ${JSON.stringify(opts.at)}`);
  const r = await withServices(opts, 'model history', (s) =>
    s.models.history(name, { ...(opts.alias ? { alias: opts.alias } : {}), ...(at ? { at } : {}) }),
  );
  ctx.out.result(r);
  if ('live' in r && r.live) {
    ctx.out.say(`live at ${r.at}:`);
    for (const [a, v] of Object.entries(r.live)) ctx.out.say(`  ${a} = ${v ?? '(none)'}`);
  } else if ('events' in r && r.events)
    for (const e of r.events)
      ctx.out.say(`${e.at}  ${e.alias}  ${e.action}  ${e.previous ?? '-'} -> ${e.version ?? '(removed)'}  by ${e.by}`);
}
