import type { OptionsOf } from '../table/define.js';
import type { remoteLs } from './commands.js';
import { withRemoteSettings } from './settings.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof remoteLs>): Promise<void> {
  const ctx = commandContext(opts);
  const remotes = await withRemoteSettings(opts, (s) => s.listRemotes());
  ctx.out.result({ remotes });
  if (!remotes.length) ctx.out.say('no remotes (add one: cairn remote add origin s3://bucket/prefix)');
  for (const r of remotes)
    ctx.out.say(
      `${r.default ? '*' : ' '} ${r.name}\t${r.url}${r.endpoint ? ` (endpoint ${r.endpoint})` : ''}${r.encrypted ? ' [encrypted]' : ''}`,
    );
}
