/**
 * Runs transfer tasks `jobs` at a time. A shared token bucket caps the bytes per second over
 * all of them (`bwlimit`); since an object moves in one request, the cap holds on average over
 * objects, not within one. Stops starting new tasks after the first failure and rethrows it
 * once the running ones have settled, so a killed or failed transfer leaves at most the
 * in-flight objects to redo.
 */
export interface RunnerOptions {
  jobs: number;
  bwlimit?: number;
  onBytes?(n: number): void;
  sleep?(ms: number): Promise<void>;
  now?(): number;
}

export interface Task {
  bytes: number;
  run(): Promise<void>;
}

export async function runTransfers(tasks: readonly Task[], opts: RunnerOptions): Promise<void> {
  const bucket = opts.bwlimit ? tokenBucket(opts.bwlimit, opts.sleep, opts.now) : null;
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < tasks.length) {
      const t = tasks[next++]!;
      try {
        if (bucket) await bucket.take(t.bytes);
        await t.run();
        opts.onBytes?.(t.bytes);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.jobs, tasks.length)) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
}

/** Debt-based bucket: a take may overdraw, and the next taker waits until the debt is paid. */
export function tokenBucket(
  rate: number,
  sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  now = () => Date.now(),
) {
  let available = rate;
  let last = now();
  let queue: Promise<void> = Promise.resolve();
  return {
    take(n: number): Promise<void> {
      const mine = queue.then(async () => {
        const t = now();
        available = Math.min(rate, available + ((t - last) / 1000) * rate);
        last = t;
        available -= n;
        if (available < 0) await sleep(Math.ceil((-available / rate) * 1000));
      });
      queue = mine;
      return mine;
    },
  };
}
