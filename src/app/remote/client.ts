import { randomUUID } from 'node:crypto';
import { CairnError, errorCatalogue, isCairnError, type ErrorCode } from '../../core/errors.js';
import { CLIENT_VERSION } from '../version.js';
import { API_PREFIX, operations, type CallInput, type Operation, type OperationId } from './contract.js';

export interface ApiClientOptions {
  url: string;
  token: string;
  /** Attempts for a request that failed without an answer (connection refused or reset, 502/503/504). */
  attempts?: number;
  /**
   * Further attempts while the server says this write's Idempotency-Key is still running (an
   * earlier attempt whose answer was lost is still being served): default 8, about 10 s of waiting
   * — and never fewer than reach past the `retryAfterMs` the server gave (when the process running
   * it could be known dead and its claim taken over), up to BUSY_WAIT_MAX_MS.
   */
  busyAttempts?: number;
  fetch?: typeof fetch;
  /** The largest answer read (default 256 MiB): a server that never stops sending is cut off. */
  maxAnswerBytes?: number;
}

/**
 * Calls the server's /api/v1 operations. A write carries an Idempotency-Key that stays the same
 * across its retries, so a request whose answer was lost (a timeout, a killed server) is not
 * recorded twice when it is sent again.
 */
export class ApiClient {
  readonly url: string;
  readonly #token: string;
  readonly #attempts: number;
  readonly #busyAttempts: number;
  readonly #fetch: typeof fetch;
  readonly #maxAnswer: number;

  constructor(opts: ApiClientOptions) {
    this.url = opts.url;
    this.#token = opts.token;
    this.#attempts = opts.attempts ?? 4;
    this.#busyAttempts = opts.busyAttempts ?? 8;
    this.#fetch = opts.fetch ?? fetch;
    this.#maxAnswer = opts.maxAnswerBytes ?? 256 * 1024 * 1024;
  }

  async call<T = unknown>(id: OperationId, input: CallInput = {}): Promise<T> {
    const op: Operation = operations[id];
    const url = this.url + API_PREFIX + fillPath(op.path, input.params ?? {}) + queryString(input.query ?? {});
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      'user-agent': `cairn/${CLIENT_VERSION}`,
      accept: 'application/json',
    };
    if (op.method !== 'GET') headers['idempotency-key'] = randomUUID();
    const body = op.body ? JSON.stringify(input.body ?? {}) : undefined;
    if (body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 1, busy = 0, waitUntil = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, { method: op.method, headers, ...(body !== undefined ? { body } : {}) });
      } catch (err) {
        if (attempt < this.#attempts) {
          await backoff(attempt);
          continue;
        }
        throw new CairnError('SERVER_UNAVAILABLE', `cannot reach the Cairn server at ${this.url}: ${causeOf(err)}`, {
          hint: 'check the URL (cairn login), that the server runs, and the network',
        });
      }
      if ([502, 503, 504].includes(res.status) && attempt < this.#attempts) {
        await res.body?.cancel();
        await backoff(attempt);
        continue;
      }
      try {
        return await parseAnswer<T>(res, this.url, this.#maxAnswer);
      } catch (err) {
        // Our own earlier attempt (same key) is still being served: its answer is the one to
        // get, so wait for it rather than report a conflict for a write that is taking effect.
        if (!stillRunning(err)) throw err;
        // Running in another server process that may be dead (on another host, known only once
        // its lease runs out): giving up before then would leave the write to a new key, run twice.
        if (busy === 0) waitUntil = Date.now() + Math.min(BUSY_WAIT_MAX_MS, retryAfterMs(err) + 500);
        if (busy >= this.#busyAttempts && Date.now() >= waitUntil) throw err;
        busy++;
        await backoff(busy);
      }
    }
  }
}

async function parseAnswer<T>(res: Response, url: string, max: number): Promise<T> {
  const text = await readCapped(res, url, max);
  let json: unknown;
  try {
    json = text.length ? JSON.parse(text) : null;
  } catch {
    throw new CairnError('SERVER_UNAVAILABLE', `${url} answered ${res.status} with something that is not JSON`, {
      hint: 'is this URL a Cairn server?',
    });
  }
  if (res.ok) return json as T;
  const e = (json as { error?: { code?: string; message?: string; hint?: string; data?: Record<string, unknown> } })
    ?.error;
  const code = (e?.code && e.code in errorCatalogue ? e.code : 'INTERNAL') as ErrorCode;
  throw new CairnError(code, e?.message ?? `the server answered ${res.status}`, {
    ...(e?.hint ? { hint: e.hint } : {}),
    ...(e?.data ? { data: e.data } : {}),
  });
}

/** The answer's text, refusing (and cancelling) one longer than `max` bytes. */
export async function readCapped(res: Response, url: string, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const tooBig = () =>
    new CairnError('SERVER_UNAVAILABLE', `${url} sent an answer larger than ${max} bytes`, {
      hint: 'is this URL a Cairn server?',
    });
  if (declared > max) {
    await res.body?.cancel();
    throw tooBig();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw tooBig();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An answer that is not the shape the contract promises: the server (or something in between) is not a Cairn server. */
export function malformed(url: string, what: string): CairnError {
  return new CairnError('SERVER_UNAVAILABLE', `${url} answered with a malformed ${what}`, {
    hint: 'is this URL a Cairn server (and nothing in between rewriting its answers)?',
  });
}

function fillPath(path: string, params: Record<string, string | number>): string {
  return path.replace(/:([A-Za-z]+)/g, (_m, k: string) => {
    const v = params[k];
    if (v === undefined) throw new CairnError('INTERNAL', `missing path parameter ${k}`);
    return encodeURIComponent(String(v));
  });
}

function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The longest a client waits on a claim of another process (the server's lease is 15 s by default). */
const BUSY_WAIT_MAX_MS = 120_000;

function retryAfterMs(err: CairnError): number {
  const ms = err.data?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function stillRunning(err: unknown): err is CairnError {
  return isCairnError(err, 'IDEMPOTENCY_CONFLICT') && err.data?.running === true;
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random())));
}

function causeOf(err: unknown): string {
  const c = (err as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (err as Error).message;
}
