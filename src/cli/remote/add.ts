import { addRemote } from '../../transfer/remote-admin.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(
  name: string,
  url: string,
  opts: GlobalOptions & {
    endpoint?: string;
    region?: string;
    encrypt?: boolean;
    keyFile?: string;
    jobs?: number;
    bwlimit?: number;
    identityFile?: string;
    knownHosts?: string;
    force?: boolean;
  },
): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'remote add', (ws) => addRemote(ws, name, url, opts));
  ctx.out.result(r);
  ctx.out.say(
    `added remote ${r.name} -> ${r.url}${r.default ? ' (default)' : ''}${r.encrypted ? `, encrypted with key ${r.keyId}` : ''}`,
  );
  if (r.encrypted && !opts.keyFile)
    ctx.out.say(
      `back up the key now: cairn remote key ${r.name} > ${r.name}.cairn-key (without it the remote's data cannot be read)`,
    );
}
