import type { OptionsOf } from '../table/define.js';
import type { serverUserAdd } from './commands.js';
import { parseRole, withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof serverUserAdd>): Promise<void> {
  const { out } = commandContext(opts);
  const role = opts.role ? parseRole(opts.role) : undefined;
  const a = await withAccountAdmin(opts, (admin) =>
    admin.addAccount({
      name,
      kind: opts.service ? 'service' : 'user',
      groups: opts.group,
      ...(opts.email ? { email: opts.email } : {}),
      ...(role ? { role, project: opts.project ?? '*' } : {}),
    }),
  );
  out.result(a);
  out.say(
    `added ${a.kind} ${a.name}${role ? ` (${role} on ${opts.project ?? '*'})` : ' (no role yet: cairn server grant)'}`,
  );
}
