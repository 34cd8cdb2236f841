import type { OptionsOf } from '../table/define.js';
import type { remoteRm } from './commands.js';
import { removeRemote } from '../../transfer/remote-admin.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof remoteRm>): Promise<void> {
  const ctx = commandContext(opts);
  await withWorkspace(opts, 'remote rm', (ws) => removeRemote(ws, name));
  ctx.out.result({ removed: name });
  ctx.out.say(`removed remote ${name} (its data stays on the remote; its key stays in .cairn/keys/remotes/)`);
}
