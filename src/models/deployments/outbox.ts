import { createHmac } from 'node:crypto';
import type { Selectable } from 'kysely';
import { isoUtc, type Clock } from '../../core/time.js';
import type { DatasetDeps } from '../../datasets/index.js';
import type { OutboxTable } from '../../meta/schema.js';
import { httpRequest, is2xx } from './exec.js';
import type { BookkeepingDb } from '../../meta/read-db.js';

export type OutboxRow = Selectable<OutboxTable>;

/** `sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>`. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export interface RetryPolicy {
  /** Attempts a deployment makes itself before it gives up and fails. */
  attempts: number;
  /** First wait between attempts; it doubles each time, up to maxMs, with jitter. */
  baseMs: number;
  maxMs: number;
  /** Attempts in all (the deployment's and `outbox flush`'s) before a delivery is given up. */
  giveUpAfter: number;
  /** Jitter source, [0, 1). */
  random: () => number;
}

export const defaultRetry: RetryPolicy = {
  attempts: 6,
  baseMs: 500,
  maxMs: 60 * 60 * 1000,
  giveUpAfter: 15,
  random: Math.random,
};

/**
 * The wait after the `attempt`-th failed attempt: exponential (base · 2^(attempt-1), capped)
 * with "equal jitter" — half fixed, half random — so many senders retrying at once spread out.
 */
export function backoffMs(attempt: number, p: Pick<RetryPolicy, 'baseMs' | 'maxMs' | 'random'>): number {
  const exp = Math.min(p.maxMs, p.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + p.random() * (exp / 2));
}

/**
 * Takes a row for one attempt: moves its `next_attempt_at` from the value last seen to
 * `leaseUntil`, only if nobody else did first (compare and set), so a deployment delivering
 * its own webhook and an `outbox flush` never send the same row at the same time.
 * Delivery bookkeeping (attempts, next attempt, last error) is written outside an audited
 * transaction, like a run's backend id: the deployment's own events record the outcome.
 */
export async function claim(
  deps: Pick<DatasetDeps, 'meta'> & { bookkeeping: BookkeepingDb },
  row: Pick<OutboxRow, 'id' | 'next_attempt_at'>,
  leaseUntil: string,
): Promise<boolean> {
  let q = deps.bookkeeping
    .updateTable('outbox')
    .set({ next_attempt_at: leaseUntil })
    .where('id', '=', row.id)
    .where('delivered_at', 'is', null);
  q =
    row.next_attempt_at === null
      ? q.where('next_attempt_at', 'is', null)
      : q.where('next_attempt_at', '=', row.next_attempt_at);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  attempts: number;
}

/** POSTs the row's body once with its signature and records the attempt (count, error). */
export async function attempt(
  deps: Pick<DatasetDeps, 'meta'> & { bookkeeping: BookkeepingDb } & { clock: Clock; userAgent: string },
  row: OutboxRow,
  timeoutMs: number,
  opts: { markDelivered: boolean },
): Promise<AttemptResult> {
  const res = await httpRequest(row.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-cairn-signature': row.signature,
      'x-cairn-deployment': row.deployment_id,
      'x-cairn-delivery': row.id,
      'user-agent': deps.userAgent,
    },
    body: row.body,
    timeoutMs,
  });
  const ok = is2xx(res.status);
  const error = ok ? null : (res.error ?? `HTTP ${res.status}`);
  const attempts = row.attempts + 1;
  await deps.bookkeeping
    .updateTable('outbox')
    .set({
      attempts,
      last_error: error,
      ...(ok && opts.markDelivered ? { delivered_at: isoUtc(deps.clock.now()), next_attempt_at: null } : {}),
    })
    .where('id', '=', row.id)
    .execute();
  row.attempts = attempts;
  row.last_error = error;
  return { ok, status: res.status, error, attempts };
}

/** Schedules the next attempt (or, with null, gives the delivery up). */
export async function schedule(
  deps: Pick<DatasetDeps, 'meta'> & { bookkeeping: BookkeepingDb },
  row: OutboxRow,
  at: string | null,
): Promise<void> {
  await deps.bookkeeping.updateTable('outbox').set({ next_attempt_at: at }).where('id', '=', row.id).execute();
  row.next_attempt_at = at;
}

/**
 * Delivers a row now, retrying with backoff until it is answered 2xx, `retry.attempts` were
 * made, or the next wait would pass `deadline` (epoch ms). The row stays leased to this
 * process (next_attempt_at = `leaseUntil`) in between, so `outbox flush` leaves it alone.
 */
export async function deliverNow(
  deps: Pick<DatasetDeps, 'meta'> & { bookkeeping: BookkeepingDb } & { clock: Clock; userAgent: string },
  row: OutboxRow,
  opts: { deadline: number; leaseUntil: string; retry: RetryPolicy; markDelivered: boolean },
): Promise<AttemptResult & { claimed: boolean }> {
  let last: AttemptResult = { ok: false, status: null, error: null, attempts: row.attempts };
  for (let i = 0; i < opts.retry.attempts; i++) {
    if (row.next_attempt_at !== opts.leaseUntil) {
      if (!(await claim(deps, row, opts.leaseUntil))) return { ...last, claimed: false };
      row.next_attempt_at = opts.leaseUntil;
    }
    const remaining = opts.deadline - Date.now();
    last = await attempt(deps, row, Math.max(1000, Math.min(30_000, remaining)), { markDelivered: opts.markDelivered });
    if (last.ok) return { ...last, claimed: true };
    const wait = backoffMs(last.attempts, opts.retry);
    if (i + 1 >= opts.retry.attempts || Date.now() + wait > opts.deadline) break;
    await new Promise((r) => setTimeout(r, wait));
  }
  return { ...last, claimed: true };
}
