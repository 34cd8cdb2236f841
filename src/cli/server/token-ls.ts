import type { OptionsOf } from '../table/define.js';
import type { serverTokenLs } from './commands.js';
import { withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof serverTokenLs>): Promise<void> {
  const { out } = commandContext(opts);
  const tokens = await withAccountAdmin(opts, (admin) => admin.tokens(opts.user));
  out.result(tokens);
  for (const t of tokens)
    out.say(
      `${t.id}\t${t.user}\tcreated ${t.created}\t${t.revoked ? `revoked ${t.revoked}` : t.expires ? `expires ${t.expires}` : 'no expiry'}${t.label ? `\t${t.label}` : ''}${t.forged ? '\tFORGED row: refused' : ''}`,
    );
}
