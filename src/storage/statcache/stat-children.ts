import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../core/package-root.js';
import type { FoldersChecked, StatChildTask } from './check-folders.js';

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
  dead: boolean;
}

/**
 * Child processes that compare folders with their stat-cache records, as the storage workers
 * do, but from inside each folder: a process may change its working directory (a worker thread
 * may not, and the main thread must not — it is the whole process's, and a server may run two
 * statuses at once), and stat'ing `name` instead of `/abs/path/to/name` spares the kernel the
 * walk of every component, for each of a million files. They are started before the cache is
 * indexed, so their start-up overlaps it. Anything going wrong (no built script, a child that
 * cannot start or dies) makes `run` answer null, and the caller uses the workers instead.
 */
export class StatChildren {
  readonly #children: Child[] = [];
  #closing: Promise<void> | null = null;

  private constructor(script: string, n: number) {
    for (let i = 0; i < n; i++) {
      const proc = fork(script, [], {
        // Not the parent's flags (a profiler, a test runner's loader): the script is plain JS.
        execArgv: [],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      });
      const child: Child = { proc, dead: false, exited: Promise.resolve() };
      child.exited = new Promise<void>((resolve) => {
        const done = () => {
          child.dead = true;
          resolve();
        };
        proc.once('exit', done);
        proc.once('error', done);
      });
      this.#children.push(child);
    }
  }

  get size(): number {
    return this.#children.length;
  }

  /** Starts `n` children, or answers null when the child script is not built. */
  static start(n: number): StatChildren | null {
    const script = childScript();
    if (!script) return null;
    try {
      return new StatChildren(script, Math.max(1, n));
    } catch {
      return null;
    }
  }

  /** Runs the tasks, a child taking the next when it answers one; null when a child failed. */
  async run(tasks: readonly StatChildTask[]): Promise<FoldersChecked[] | null> {
    const out: FoldersChecked[] = new Array<FoldersChecked>(tasks.length);
    let next = 0;
    const drive = (child: Child) =>
      new Promise<void>((resolve, reject) => {
        const { proc } = child;
        let current = -1;
        const give = () => {
          if (next >= tasks.length) {
            cleanup();
            resolve();
            return;
          }
          current = next++;
          proc.send(tasks[current]!, (err) => {
            if (err) fail(err);
          });
        };
        const onMessage = (m: FoldersChecked) => {
          out[current] = m;
          give();
        };
        const fail = (err: unknown) => {
          cleanup();
          reject(err instanceof Error ? err : new Error(String(err)));
        };
        const onExit = () => fail(new Error('stat child exited early'));
        const cleanup = () => {
          proc.off('message', onMessage);
          proc.off('exit', onExit);
          proc.off('error', fail);
        };
        if (child.dead || !proc.connected) {
          reject(new Error('stat child not running'));
          return;
        }
        proc.on('message', onMessage);
        proc.once('exit', onExit);
        proc.once('error', fail);
        give();
      });
    try {
      await Promise.all(this.#children.map(drive));
      return out;
    } catch {
      return null;
    }
  }

  /**
   * Ends the children and waits until they are gone (reaped: their CPU time then counts in this
   * process's children's usage, where `time` and the benchmark look for it).
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    for (const c of this.#children) {
      if (c.dead) continue;
      if (c.proc.connected) c.proc.disconnect();
      else c.proc.kill();
    }
    this.#closing = Promise.all(this.#children.map((c) => c.exited)).then(() => undefined);
    return this.#closing;
  }
}

/** The compiled child script beside this module (bundle or dist/), else dist/'s (tests of src/). */
function childScript(): string | null {
  const here = fileURLToPath(new URL('./stat-child.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = join(packageRoot(), 'dist', 'storage', 'statcache', 'stat-child.js');
  return existsSync(built) ? built : null;
}
