import type { OptionsOf } from '../table/define.js';
import type { runLogs } from './commands.js';
import { commandContext, withServices } from '../context.js';
import { stdoutClosed } from '../output.js';

/** Prints a run's stdout (or stderr); `-f` follows it until the run ends, like tail -f. */
export async function run(id: string, opts: OptionsOf<typeof runLogs>): Promise<void> {
  commandContext(opts);
  await withServices(opts, 'run logs', (s) =>
    s.runs.logs(id, {
      stderr: opts.stderr === true,
      follow: opts.follow === true,
      write: (chunk) => process.stdout.write(chunk),
      // `cairn run logs -f <id> | head` ends when head does, like tail -f.
      closed: stdoutClosed,
    }),
  );
}
