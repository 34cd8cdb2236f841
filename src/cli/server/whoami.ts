import type { OptionsOf } from '../table/define.js';
import type { whoami } from './commands.js';
import { whoami as who } from '../../app/remote/login.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof whoami>): Promise<void> {
  const { out } = commandContext(opts);
  const me = await who(process.env);
  out.result(me);
  out.say(me ? `${me.user} on ${me.url}` : 'not logged in to a server (cairn login <url>)');
}
