import { CairnError } from '../../core/errors.js';

export interface RetryOptions {
  /** Attempts in all (default 5). */
  attempts?: number;
  /** First back-off in ms (default 200); doubles each time, capped at `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Whether an error is worth another try (5xx, resets, timeouts); others fail at once. */
  retryable(err: unknown): boolean;
  /** Told before each wait, e.g. to log. */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  sleep?(ms: number): Promise<void>;
  random?(): number;
}

/**
 * Runs `fn` until it succeeds, a non-retryable error occurs, or the attempts are spent. Waits
 * are "full jitter" (a uniform draw in [0, cap]), so many clients retrying after the same
 * server hiccup do not come back in lockstep.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 10_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !opts.retryable(err) || (err instanceof CairnError && err.code !== 'IO_ERROR'))
        throw err;
      const delay = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}

/** Network errors that a new attempt may cure. */
export function isTransientNetworkError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return [
    'ECONNRESET',
    'ECONNREFUSED',
    'EPIPE',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'ENOTCONN',
    'ECONNABORTED',
    'UND_ERR_SOCKET',
  ].includes(code ?? '');
}
