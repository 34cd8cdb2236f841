import type { OptionsOf } from '../table/define.js';
import type { witnessAddLog } from './commands.js';
import { addWitnessedLog } from '../../app/witness-host.js';
import { commandContext } from '../context.js';

export async function run(origin: string, vkey: string, opts: OptionsOf<typeof witnessAddLog>): Promise<void> {
  const { out } = commandContext(opts);
  const host = await addWitnessedLog({ dataDir: opts.dataDir, origin, vkey });
  out.result({ name: host.name, vkey: host.vkey, logs: host.logs() });
  out.say(
    `witness ${host.name} now cosigns ${origin} (${host.logs().length} log(s) in all; a running witness picks it up)`,
  );
  out.say(`on the log: cairn audit witness add <this witness's URL> '${host.vkey}'`);
}
