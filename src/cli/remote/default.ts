import { setDefaultRemote } from '../../transfer/remote-admin.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { findCairnDir } from './find.js';

export async function run(name: string, opts: GlobalOptions): Promise<void> {
  const ctx = commandContext(opts);
  await setDefaultRemote(findCairnDir(opts), name);
  ctx.out.result({ default: name });
  ctx.out.say(`default remote: ${name}`);
}
