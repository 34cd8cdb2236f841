import type { OptionsOf } from '../table/define.js';
import type { serverGrant } from './commands.js';
import { parseRole, withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(subject: string, role: string, opts: OptionsOf<typeof serverGrant>): Promise<void> {
  const { out } = commandContext(opts);
  const r = role === 'none' ? null : parseRole(role);
  await withAccountAdmin(opts, (admin) => admin.grant(subject, opts.project, r));
  out.result({ subject, project: opts.project, role });
  out.say(r ? `${subject} is ${r} on ${opts.project}` : `${subject} has no role on ${opts.project} any more`);
}
