import type { OptionsOf } from '../table/define.js';
import type { login } from './commands.js';
import { login as logIn } from '../../app/remote/login.js';
import { commandContext } from '../context.js';

export async function run(url: string, opts: OptionsOf<typeof login>): Promise<void> {
  const { out } = commandContext(opts);
  const r = await logIn(url, opts.token ?? process.env.CAIRN_TOKEN, process.env, opts.key ? { key: opts.key } : {});
  out.result(r);
  out.say(`logged in to ${r.url} as ${r.user}`);
  out.say(
    `server audit key: ${r.verifierKey} (${r.pinned === 'first-use' ? 'trusted on first use: compare it with what your admin published' : r.pinned})`,
  );
  out.say(
    'commands run outside a Cairn workspace now act on this server (inside one, set CAIRN_SERVER to use the server)',
  );
}
