import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../../core/package-root.js';
import { Worker } from 'node:worker_threads';
import { CairnError } from '../../core/errors.js';
import type { Envelope, WorkerError, WorkerReply, WorkerTask } from './protocol.js';

interface Pending {
  onMessage?: MessageHandler;
  onDrop?: MessageHandler;
  resolve: (v: WorkerReply) => void;
  reject: (e: unknown) => void;
  chain: Promise<void>;
}

/**
 * Receives a streaming task's intermediate messages, strictly in order (an async handler
 * finishes before the next message is handed over). A handler that throws fails the task;
 * later messages still reach `onDrop`, so resources they hold can be released.
 */
export type MessageHandler = (msg: WorkerReply) => void | Promise<void>;

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * A small pool of storage workers, started lazily (a command that finds everything in its
 * stat cache never pays for thread start-up). Intermediate messages of a task are delivered
 * to its `onMessage` strictly in order, even when the handler is async.
 */
export class WorkerPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #queue: Array<() => void> = [];
  #nextId = 1;
  #closed = false;

  constructor(size: number = defaultPoolSize()) {
    this.size = Math.max(1, size);
  }

  #slot(): Slot | null {
    for (const s of this.#slots) if (s.busy === 0) return s;
    return this.#slots.length < this.size ? this.#spawn() : null;
  }

  #spawn(): Slot {
    const worker = new Worker(workerScript());
    worker.unref();
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (env: Envelope<WorkerReply>) => this.#onMessage(slot, env));
    worker.on('error', (err) => this.#failAll(err));
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Starts every worker now, without waiting: a command that will surely use them all (status
   * of a cached tree) lets their start-up overlap its own reading instead of following it.
   */
  warm(): void {
    if (this.#closed) return;
    while (this.#slots.length < this.size) this.#spawn();
  }

  /** Runs a task; `onMessage` sees every intermediate reply; resolves with the final one. */
  run(
    task: WorkerTask,
    options: { transfer?: ArrayBuffer[]; onMessage?: MessageHandler; onDrop?: MessageHandler } = {},
  ): Promise<WorkerReply> {
    if (this.#closed) return Promise.reject(new CairnError('INTERNAL', 'worker pool is closed'));
    return new Promise<WorkerReply>((resolve, reject) => {
      const start = () => {
        const slot = this.#slot();
        if (!slot) {
          this.#queue.push(start);
          return;
        }
        const taskId = this.#nextId++;
        const pending: Pending = {
          resolve,
          reject,
          chain: Promise.resolve(),
          ...(options.onMessage ? { onMessage: options.onMessage } : {}),
          ...(options.onDrop ? { onDrop: options.onDrop } : {}),
        };
        this.#pending.set(taskId, pending);
        slot.busy++;
        slot.worker.ref();
        slot.worker.postMessage({ taskId, msg: task }, options.transfer ?? []);
      };
      start();
    });
  }

  #onMessage(slot: Slot, env: Envelope<WorkerReply>): void {
    const p = this.#pending.get(env.taskId);
    if (!p) return;
    const msg = env.msg;
    const final =
      msg.type === 'done' || msg.type === 'error' || msg.type === 'small-result' || msg.type === 'large-done';
    if (!final) {
      p.chain = p.chain
        .then(() => (p.onMessage ? p.onMessage(msg) : p.onDrop?.(msg)))
        .catch((err) => {
          p.reject(err);
          p.onMessage = undefined;
          return p.onDrop?.(msg);
        })
        .catch(() => {});
      return;
    }
    this.#pending.delete(env.taskId);
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
    p.chain.then(() => {
      if (msg.type === 'error') p.reject(workerFailure(msg.error));
      else p.resolve(msg);
    }, p.reject);
    const next = this.#queue.shift();
    next?.();
  }

  #failAll(err: unknown): void {
    for (const p of this.#pending.values())
      p.reject(new CairnError('INTERNAL', `storage worker crashed: ${(err as Error).message}`, { cause: err }));
    this.#pending.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}

export function defaultPoolSize(): number {
  const env = Number(process.env.CAIRN_WORKERS);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.min(availableParallelism(), 16);
}

/** Maps a worker error back into the CairnError family. */
export function workerFailure(e: WorkerError): CairnError {
  if (e.code === 'CORRUPT_OBJECT') {
    if (e.file !== undefined) {
      return new CairnError('CORRUPT_OBJECT', e.message, {
        data: { path: e.file },
        hint: "the version's tree does not describe its chunks: it was damaged or forged; nothing was written under that name",
      });
    }
    return new CairnError('CORRUPT_OBJECT', e.message, {
      data: { blob: e.blob ?? null },
      hint: 'run `cairn fsck` to see every damaged file and version',
    });
  }
  const path = e.path ?? '';
  const why =
    e.code === 'ENOENT'
      ? 'it disappeared'
      : e.code === 'EACCES' || e.code === 'EPERM'
        ? 'permission denied'
        : e.code === 'ECHANGED'
          ? 'it changed while being read; try again'
          : e.message;
  return new CairnError('IO_ERROR', path ? `cannot read ${path}: ${why}` : why, {
    data: { path: e.path ?? null, errno: e.code },
  });
}

/**
 * The worker must be JavaScript: the sibling file in the bundle or in dist/; when tests run
 * the TypeScript sources, the compiled one under dist/ (`npm test` builds first).
 */
function workerScript(): URL {
  const here = new URL('./storage-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = join(packageRoot(), 'dist', 'storage', 'workers', 'storage-worker.js');
  if (existsSync(built)) return pathToFileURL(built);
  throw new CairnError('INTERNAL', 'the storage worker is not built; run `npm run build`');
}
