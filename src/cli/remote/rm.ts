import type { OptionsOf } from '../table/define.js';
import type { remoteRm } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof remoteRm>): Promise<void> {
  const ctx = commandContext(opts);
  await withServices(opts, 'remote rm', (s) => s.transfer.removeRemote(name));
  ctx.out.result({ removed: name });
  ctx.out.say(`removed remote ${name} (its data stays on the remote; its key stays in .cairn/keys/remotes/)`);
}
