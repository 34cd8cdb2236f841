import type { OptionsOf } from '../table/define.js';
import type { remoteKey } from './commands.js';
import { commandContext } from '../context.js';
import { withRemoteSettings } from './settings.js';

/** Prints the key's backup line on stdout (and nothing else), so `> file` captures it. */
export async function run(name: string, opts: OptionsOf<typeof remoteKey>): Promise<void> {
  const ctx = commandContext(opts);
  const line = await withRemoteSettings(opts, (s) => s.exportRemoteKey(name));
  if (ctx.json) ctx.out.result({ remote: name, key: line });
  else process.stdout.write(`${line}\n`);
}
