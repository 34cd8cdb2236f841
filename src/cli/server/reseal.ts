import type { OptionsOf } from '../table/define.js';
import type { serverReseal } from './commands.js';
import { resealServer } from '../../app/server-reseal.js';
import { CairnError } from '../../core/errors.js';
import { commandContext } from '../context.js';

export async function run(opts: OptionsOf<typeof serverReseal>): Promise<void> {
  const { out } = commandContext(opts);
  if (!opts.dataDir)
    throw new CairnError(
      'USAGE',
      'give --data-dir <the server data dir>: this runs on the server host, server stopped',
    );
  const r = await resealServer({ dataDir: opts.dataDir });
  out.result(r);
  out.say(
    `a new session key is in ${r.keyFile}: ${r.accounts} accounts, ${r.tokens} tokens and ${r.grants} grants sealed again; ${r.sessions} browser sessions ended (they sign in again)`,
  );
  out.say('copy the new key file to every other server process on this database before starting them');
}
