import type { OptionsOf } from '../table/define.js';
import type { serverTokenCreate } from './commands.js';
import { parseExpiry, withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof serverTokenCreate>): Promise<void> {
  const { out } = commandContext(opts);
  const expiresInMs = parseExpiry(opts.expires);
  const t = await withAccountAdmin(opts, (admin) =>
    admin.createToken(opts.user, { expiresInMs, ...(opts.label ? { label: opts.label } : {}) }),
  );
  out.result(t);
  out.say(t.token);
  out.note(
    `token ${t.id} for ${t.user}, ${t.expires ? `expires ${t.expires}` : 'never expires'}: shown once, store it now`,
  );
}
