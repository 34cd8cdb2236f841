import type { OptionsOf } from '../table/define.js';
import type { serverUserLs } from './commands.js';
import { withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof serverUserLs>): Promise<void> {
  const { out } = commandContext(opts);
  const accounts = await withAccountAdmin(opts, (admin) => admin.accounts());
  out.result(accounts);
  for (const a of accounts) {
    const grants =
      a.grants.map((g) => `${g.role}@${g.project}${g.forged ? ' (FORGED: ignored)' : ''}`).join(', ') || 'no grants';
    out.say(
      `${a.name}\t${a.kind}\t${a.groups.join(',') || '-'}\t${grants}${a.disabled ? `\tdisabled ${a.disabled}` : ''}${a.forged ? '\tFORGED row: refused' : ''}`,
    );
  }
}
