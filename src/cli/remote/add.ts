import type { OptionsOf } from '../table/define.js';
import type { remoteAdd } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, url: string, opts: OptionsOf<typeof remoteAdd>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'remote add', (s) => s.transfer.addRemote(name, url, opts));
  ctx.out.result(r);
  ctx.out.say(
    `added remote ${r.name} -> ${r.url}${r.default ? ' (default)' : ''}${r.encrypted ? `, encrypted with key ${r.keyId}` : ''}`,
  );
  if (r.encrypted && !opts.keyFile)
    ctx.out.say(
      `back up the key now: cairn remote key ${r.name} > ${r.name}.cairn-key (without it the remote's data cannot be read)`,
    );
}
