import type { OptionsOf } from '../table/define.js';
import type { remoteDefault } from './commands.js';
import { commandContext } from '../context.js';
import { withRemoteSettings } from './settings.js';

export async function run(name: string, opts: OptionsOf<typeof remoteDefault>): Promise<void> {
  const ctx = commandContext(opts);
  await withRemoteSettings(opts, (s) => s.setDefaultRemote(name));
  ctx.out.result({ default: name });
  ctx.out.say(`default remote: ${name}`);
}
