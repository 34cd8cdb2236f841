import type { OptionsOf } from '../table/define.js';
import type { serverUserDisable } from './commands.js';
import { withAccountAdmin } from '../../app/server-admin.js';
import { commandContext } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof serverUserDisable>): Promise<void> {
  const { out } = commandContext(opts);
  await withAccountAdmin(opts, (admin) => admin.disable(name));
  out.result({ disabled: name });
  out.say(`disabled ${name}: its tokens no longer work`);
}
