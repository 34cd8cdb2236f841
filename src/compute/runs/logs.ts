import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDeps } from './deps.js';
import { getRun, isTerminal } from './store.js';
import { syncRuns } from './sync.js';

export interface LogsOptions {
  stderr?: boolean;
  /** Keep writing until the run ends, like tail -f. */
  follow?: boolean;
  /** Receives the log's bytes as they come. */
  write(chunk: Buffer): void;
  /** True once the reader went away (`cairn run logs -f | head`): following stops. */
  closed?(): boolean;
  pollMs?: number;
}

/** Hands a run's stdout (or stderr) to `write`; with `follow`, keeps doing so until the run ends. */
export async function streamLogs(deps: RunDeps, id: string, opts: LogsOptions): Promise<void> {
  let r = await getRun(deps, id);
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
      opts.write(buf);
      offset = size;
    } finally {
      closeSync(fd);
    }
  };
  drain();
  while (opts.follow && !opts.closed?.() && !isTerminal(r.status)) {
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 500));
    await syncRuns(deps);
    r = await getRun(deps, id);
    drain();
  }
  drain();
}
