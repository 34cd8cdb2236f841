import type { OptionsOf } from '../table/define.js';
import type { runLogs } from './commands.js';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getRun, syncRuns, TERMINAL } from '../../compute/runs/service.js';
import { commandContext, withWorkspace } from '../context.js';
import { stdoutClosed } from '../output.js';

/** Prints a run's stdout (or stderr); `-f` follows it until the run ends, like tail -f. */
export async function run(id: string, opts: OptionsOf<typeof runLogs>): Promise<void> {
  commandContext(opts);
  await withWorkspace(opts, 'run logs', async (ws) => {
    let r = await getRun(ws, id);
    const file = join(r.dir, opts.stderr ? 'stderr.log' : 'stdout.log');
    let offset = 0;
    const drain = () => {
      if (!existsSync(file)) return;
      const size = statSync(file).size;
      if (size <= offset) return;
      const fd = openSync(file, 'r');
      try {
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        process.stdout.write(buf);
        offset = size;
      } finally {
        closeSync(fd);
      }
    };
    drain();
    // `cairn run logs -f <id> | head` ends when head does, like tail -f.
    while (opts.follow && !stdoutClosed() && !(TERMINAL as readonly string[]).includes(r.status)) {
      await new Promise((res) => setTimeout(res, 500));
      await syncRuns(ws);
      r = await getRun(ws, id);
      drain();
    }
    drain();
  });
}
