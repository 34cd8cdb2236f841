import { removeRemote } from '../../transfer/remote-admin.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(name: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  await withWorkspace(opts, 'remote rm', (ws) => removeRemote(ws, name));
  ctx.out.result({ removed: name });
  ctx.out.say(`removed remote ${name} (its data stays on the remote; its key stays in .cairn/keys/remotes/)`);
}
