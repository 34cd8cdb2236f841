import type { OptionsOf } from '../table/define.js';
import type { remoteDefault } from './commands.js';
import { setDefaultRemote } from '../../transfer/remote-admin.js';
import { commandContext } from '../context.js';
import { findCairnDir } from './find.js';

export async function run(name: string, opts: OptionsOf<typeof remoteDefault>): Promise<void> {
  const ctx = commandContext(opts);
  await setDefaultRemote(findCairnDir(opts), name);
  ctx.out.result({ default: name });
  ctx.out.say(`default remote: ${name}`);
}
