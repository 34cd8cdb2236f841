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

/** Reads what was appended to a growing file since the last call (nothing while it does not exist). */
export function fileTail(file: string, write: (chunk: Buffer) => void): () => void {
  let offset = 0;
  return () => {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= offset) return;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n > 0) write(buf.subarray(0, n));
      offset += n;
    } finally {
      closeSync(fd);
    }
  };
}

/** The last `lines` lines of a file (at most its last 64 KiB), or '' when it does not exist. */
export function lastLines(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const size = statSync(file).size;
  const len = Math.min(size, 64 * 1024);
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const text = buf.toString('utf8').replace(/\n$/, '');
    const all = text.split('\n');
    return all.slice(len < size ? Math.max(1, all.length - lines) : Math.max(0, all.length - lines)).join('\n');
  } finally {
    closeSync(fd);
  }
}

/** The files of a run's output streams. */
export function logFile(dir: string, stream: 'stdout' | 'stderr'): string {
  return join(dir, `${stream}.log`);
}

/** Hands a run's stdout (or stderr) to `write`; with `follow`, keeps doing so until the run ends. */
export async function streamLogs(deps: RunDeps, id: string, opts: LogsOptions): Promise<void> {
  let r = await getRun(deps, id);
  const drain = fileTail(logFile(r.dir, opts.stderr ? 'stderr' : 'stdout'), opts.write);
  drain();
  while (opts.follow && !opts.closed?.() && !isTerminal(r.status)) {
    await new Promise((res) => setTimeout(res, opts.pollMs ?? 500));
    await syncRuns(deps);
    r = await getRun(deps, id);
    drain();
  }
  drain();
}
