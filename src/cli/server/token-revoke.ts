import type { OptionsOf } from '../table/define.js';
import type { serverTokenRevoke } from './commands.js';
import { withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(id: string, opts: OptionsOf<typeof serverTokenRevoke>): Promise<void> {
  const { out } = commandContext(opts);
  await withAccountAdmin(opts, (admin) => admin.revokeToken(id));
  out.result({ revoked: id });
  out.say(`revoked ${id}`);
}
