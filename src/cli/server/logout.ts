import type { OptionsOf } from '../table/define.js';
import type { logout } from './commands.js';
import { logout as logOut } from '../../app/remote/login.js';
import { commandContext } from '../context.js';

export async function run(url: string | undefined, opts: OptionsOf<typeof logout>): Promise<void> {
  const { out } = commandContext(opts);
  const r = logOut(process.env, url, opts.all === true);
  out.result(r);
  out.say(r.loggedOut.length ? `logged out of ${r.loggedOut.join(', ')}` : 'not logged in anywhere');
}
