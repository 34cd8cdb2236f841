import { CairnError } from '../../core/errors.js';

/** How much and how long an answer from the OpenID provider may take. */
export interface FetchBounds {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * Discovery documents and key sets are a few KiB; tokens a few more. A provider (or whatever
 * answers at its address) that sends more, or never finishes, is cut off instead of holding the
 * server's memory or a request for ever.
 */
export const PROVIDER_BOUNDS: FetchBounds = { maxBytes: 1024 * 1024, timeoutMs: 10_000 };

/** Thrown when an answer passes `maxBytes`; callers turn it into their own typed error. */
export class AnswerTooLarge extends Error {
  constructor(
    readonly url: string,
    readonly maxBytes: number,
  ) {
    super(`${url} sent more than ${maxBytes} bytes`);
  }
}

/**
 * `fetch` whose whole answer, body included, is read within `bounds`: the time limit aborts the
 * request and its body, the size limit stops reading as soon as it is passed. What it returns is
 * an ordinary Response over the bytes read.
 */
export async function fetchBounded(
  url: string,
  init: RequestInit,
  bounds: FetchBounds = PROVIDER_BOUNDS,
  fetchImpl: typeof fetch = fetch,
): Promise<Response> {
  const timeout = AbortSignal.timeout(bounds.timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  const res = await fetchImpl(url, { ...init, signal });
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > bounds.maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new AnswerTooLarge(url, bounds.maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > bounds.maxBytes) {
        await reader.cancel().catch(() => {});
        throw new AnswerTooLarge(url, bounds.maxBytes);
      }
      chunks.push(value);
    }
  }
  return new Response(total > 0 ? Buffer.concat(chunks, total) : null, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** A provider failure as the error the server answers with (the provider is away or broken). */
export function providerUnavailable(what: string, url: string, err: unknown): CairnError {
  const why =
    err instanceof AnswerTooLarge
      ? err.message
      : (err as Error)?.name === 'TimeoutError'
        ? 'no complete answer in time'
        : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error)?.message ?? String(err));
  return new CairnError('SERVER_UNAVAILABLE', `cannot read the OpenID provider's ${what} ${url}: ${why}`, {
    data: { url, ...(err instanceof AnswerTooLarge ? { tooLarge: true, maxBytes: err.maxBytes } : {}) },
  });
}
