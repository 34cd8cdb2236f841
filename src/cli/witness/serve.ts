import type { OptionsOf } from '../table/define.js';
import type { witnessServe } from './commands.js';
import { openWitnessHost } from '../../app/witness-host.js';
import { startWitnessServer } from '../../server/witness-server.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof witnessServe>): Promise<void> {
  const { out } = commandContext(opts);
  const host = await openWitnessHost({ dataDir: opts.dataDir, ...(opts.name ? { name: opts.name } : {}) });
  const server = await startWitnessServer(host, opts.listen, (line) => out.note(`witness: ${line}`));
  out.result({ url: server.url, name: host.name, vkey: host.vkey, logs: host.logs() });
  out.say(`witness ${host.name} on ${server.url} (POST /add-checkpoint), data dir ${host.dataDir}`);
  out.say(`witness key: ${host.vkey}`);
  out.say(
    host.logs().length === 0
      ? `no logs yet: cairn witness add-log <origin> <log vkey> --data-dir ${opts.dataDir}`
      : `witnessing ${host.logs().length} log(s): ${host
          .logs()
          .map((l) => l.origin)
          .join(', ')}`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      out.note('cairn witness: stopping');
      server.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
