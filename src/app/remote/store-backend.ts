import { createHash } from 'node:crypto';
import { CairnError, errorCatalogue, isCairnError, type ErrorCode } from '../../core/errors.js';
import { withRetry, type GetOptions, type PresignedRequest, type RemoteBackend } from '../../transfer/index.js';
import { CLIENT_VERSION } from '../version.js';
import { AnswerTooLarge, sendBytes, type BytesAnswer } from './bytes-request.js';
import { ApiClient, malformed } from './client.js';
import { CommitQueue } from './commit-queue.js';
import { API_PREFIX } from './contract.js';

const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;
/** Parts of a multipart upload (S3's floor is 5 MiB), like a direct S3 push. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
/**
 * Packs above this go up in parts. A single PUT is checked by the server through its size and
 * ETag (the MD5 pinned in the URL) without reading it; a multipart pack has only each part's MD5
 * checked by S3, and the server reads the assembled pack back to check its SHA-256 (measured: a
 * 1 GiB push of 32 MiB packs at 0.62x a direct push in parts, 0.79x with single PUTs, before
 * commits ran beside uploads). Cairn writes packs of about 32 MiB, so parts are for the larger ones.
 */
export const DEFAULT_MULTIPART_ABOVE = 64 * 1024 * 1024;
const PART_CONCURRENCY = 4;
/**
 * Sends of one body the server refused 429 UPLOADS_BUSY (its upload memory: too many of this
 * account's bodies wait already) before the refusal is the answer; each waits the Retry-After it
 * gave (5 s), at most BUSY_WAIT_MAX_MS.
 */
export const DEFAULT_BUSY_ATTEMPTS = 6;
const BUSY_WAIT_MAX_MS = 60_000;

/**
 * The most of an answer read (docs/REMOTES.md "A team server as a remote"): a server or store
 * that streams more is cut off rather than buffered whole. A put is answered with a few bytes
 * (S3: none, or an XML error; the server: a small JSON); a pack with the size the server said
 * it has, plus room for an error's body; the layout's small objects (state, audit bundles) like
 * the API's JSON answers.
 */
const ANSWER_TO_PUT = 1024 * 1024;
const ANSWER_MARGIN = 64 * 1024;
const SMALL_OBJECT = 256 * 1024 * 1024;
/** Far above any pack Cairn writes (32 MiB; a Buffer holds at most 4 GiB): a server's claimed size is bounded too. */
const LARGEST_PACK = 2 * 1024 * 1024 * 1024;

interface PlanAnswer {
  direct: boolean;
  objects: Array<{
    key: string;
    present: boolean;
    uploadId?: string;
    request?: PresignedRequest;
    parts?: PresignedRequest[];
  }>;
}

/**
 * A team server's store as a remote backend (`cairn remote add team https://cairn.example`):
 * push and pull run unchanged over it. Packs go on the URLs the server plans (straight to S3 when
 * the store is a bucket); the layout's small objects (state, audit bundles) go through the API.
 */
export class ServerStoreBackend implements RemoteBackend {
  readonly url: string;
  readonly #api: ApiClient;
  readonly #token: string;
  readonly #partBytes: number;
  readonly #multipartAbove: number;
  readonly #retry: { attempts: number; baseDelayMs: number };
  readonly #busyAttempts: number;
  readonly #commits = new CommitQueue((uploads) => this.#api.call('store.commit', { body: { uploads } }));

  constructor(opts: {
    url: string;
    token: string;
    partBytes?: number;
    multipartAbove?: number;
    attempts?: number;
    baseDelayMs?: number;
    /** Sends of one body refused 429 UPLOADS_BUSY (default DEFAULT_BUSY_ATTEMPTS). */
    busyAttempts?: number;
  }) {
    this.url = opts.url;
    this.#token = opts.token;
    this.#partBytes = opts.partBytes ?? DEFAULT_PART_BYTES;
    this.#multipartAbove = Math.max(opts.multipartAbove ?? DEFAULT_MULTIPART_ABOVE, this.#partBytes);
    this.#retry = { attempts: opts.attempts ?? 5, baseDelayMs: opts.baseDelayMs ?? 200 };
    this.#busyAttempts = Math.max(1, opts.busyAttempts ?? DEFAULT_BUSY_ATTEMPTS);
    this.#api = new ApiClient({ url: opts.url, token: opts.token });
  }

  async head(key: string): Promise<{ size: number } | null> {
    await this.#commits.settled();
    const found = (await this.list(key)).find((o) => o.key === key);
    return found ? { size: found.size } : null;
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    await this.#commits.settled();
    const r = await this.#api.call<{ objects: Array<{ key: string; size: number }> }>('store.list', {
      query: { prefix },
    });
    return r.objects;
  }

  /**
   * `opts.maxBytes` (the caller's expected size) bounds the read as well as this backend's own
   * bound: the smaller wins. A pack the server plans larger fails before a byte of it is read; an
   * answer is read to at most that bound plus room for an error's body, and one longer than the
   * bound fails with IO_ERROR and `data.tooLarge` (RemoteBackend's contract), nothing kept.
   */
  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    await this.#commits.settled();
    const wanted = opts?.maxBytes ?? Infinity;
    if (!PACK_KEY.test(key)) {
      const max = bound(SMALL_OBJECT, wanted);
      const body = await this.#raw('GET', `/store/objects/${key}`, undefined, max).catch((err: unknown) => {
        // Cut off at the caller's bound rather than ours: the object is not the one expected.
        const theirs = max < SMALL_OBJECT && isCairnError(err, 'SERVER_UNAVAILABLE') && err.data?.maxBytes === max;
        throw theirs ? tooLargeFor(key, wanted) : err;
      });
      return fitting(body, key, wanted);
    }
    const r = await this.#api.call<{ objects: Array<{ size?: unknown; request: PresignedRequest | null }> }>(
      'store.download',
      { body: { keys: [key] } },
    );
    const size = r.objects[0]?.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > LARGEST_PACK)
      throw malformed(this.url + API_PREFIX, `size for ${key} in the download plan`);
    if (size > wanted) throw tooLargeFor(key, wanted, size);
    const max = size + ANSWER_MARGIN;
    const req = r.objects[0]?.request;
    const body = req
      ? await direct(req, undefined, key, max)
      : await this.#raw('GET', `/store/objects/${key}`, undefined, max);
    return fitting(body, key, wanted);
  }

  /**
   * A pack's put answers once its bytes are in the store; the server's check and move into place
   * (the commit: for S3 a read-back and a copy) runs while the next packs go up. Every other call
   * on this backend (the state written after the packs, a listing, a read) first waits for the
   * commits in flight and fails with the first that failed, so nothing is written after a pack
   * the server refused, and a failed commit stops the packs not yet sent.
   */
  async put(key: string, body: Buffer): Promise<void> {
    if (!PACK_KEY.test(key)) {
      await this.#commits.settled();
      await this.#putBusy(`/store/objects/${key}`, body);
      return;
    }
    this.#commits.check();
    const sha256 = createHash('sha256').update(body).digest('hex');
    // Parts (each MD5 pinned in its URL) above the threshold; a folder store ignores them and streams.
    const partBytes = Math.max(this.#partBytes, Math.ceil(body.length / 10_000));
    const planned =
      body.length > this.#multipartAbove
        ? { key, size: body.length, sha256, parts: { partBytes, md5: partsOf(body, partBytes).map(md5Of) } }
        : { key, size: body.length, sha256, md5: md5Of(body) };
    const plan = await this.#api.call<PlanAnswer>('store.plan', { body: { objects: [planned] } });
    const p = plan.objects[0]!;
    if (p.present || !p.uploadId) return;
    if (p.parts) await this.#uploadParts(p.parts, partsOf(body, partBytes), key);
    else if (!p.request) return;
    else if (p.request.url.startsWith('/')) await this.#putBusy(p.request.url.slice(API_PREFIX.length), body);
    else await direct(p.request, body, key, ANSWER_TO_PUT);
    if (plan.direct) this.#commits.add(p.uploadId);
  }

  /**
   * Sends the parts a few at a time, each retried on its own after a dropped connection or a
   * 5xx (its URL stays valid until the plan expires; a part sent twice replaces itself). The
   * first part that still fails stops the rest: the server aborts the upload when its plan expires.
   */
  async #uploadParts(urls: PresignedRequest[], chunks: Buffer[], key: string): Promise<void> {
    if (urls.length !== chunks.length)
      throw new CairnError('INTERNAL', `the server planned ${urls.length} parts for ${key}, not ${chunks.length}`);
    let next = 0;
    let failed: { err: unknown } | null = null;
    const worker = async () => {
      while (!failed && next < urls.length) {
        const i = next++;
        try {
          await withRetry(() => direct(urls[i]!, chunks[i]!, `${key} (part ${i + 1})`, ANSWER_TO_PUT), {
            ...this.#retry,
            retryable: (err) => err instanceof CairnError && err.code === 'IO_ERROR' && retryableStatus(err),
          });
        } catch (err) {
          failed ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, urls.length) }, worker));
    if (failed) throw (failed as { err: unknown }).err;
  }

  async delete(key: string): Promise<void> {
    throw new CairnError('PERMISSION_DENIED', `a team server's store is not changed by clients (${key})`);
  }

  async close(): Promise<void> {
    // A caller that closes without another call still waits for its commits (their failure was
    // or will be reported by that caller's own error path, not by close).
    await this.#commits.settled().catch(() => {});
  }

  /**
   * A PUT through the server, sent again after the Retry-After while the server refuses it 429
   * UPLOADS_BUSY: refused before its body is read, so nothing of it was taken (its plan is still
   * unused) and the next send is the same request. The last refusal is the answer.
   */
  async #putBusy(path: string, body: Buffer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#raw('PUT', path, body, ANSWER_TO_PUT);
        return;
      } catch (err) {
        if (!(err instanceof CairnError && err.code === 'UPLOADS_BUSY') || attempt >= this.#busyAttempts) throw err;
        await new Promise((r) => setTimeout(r, busyWaitMs(err)));
      }
    }
  }

  async #raw(method: 'GET' | 'PUT', path: string, body: Buffer | undefined, maxBytes: number): Promise<Buffer> {
    let res: BytesAnswer;
    try {
      res = await sendBytes(this.url + API_PREFIX + path, {
        method,
        maxBytes,
        headers: {
          authorization: `Bearer ${this.#token}`,
          'user-agent': `cairn/${CLIENT_VERSION}`,
          ...(body ? { 'content-type': 'application/octet-stream' } : {}),
        },
        ...(body ? { body } : {}),
      });
    } catch (err) {
      if (err instanceof AnswerTooLarge)
        throw new CairnError('SERVER_UNAVAILABLE', `${this.url} sent an answer larger than ${maxBytes} bytes`, {
          hint: 'is this URL a Cairn server (and nothing in between rewriting its answers)?',
          data: { maxBytes },
        });
      throw new CairnError(
        'SERVER_UNAVAILABLE',
        `cannot reach the Cairn server at ${this.url}: ${(err as Error).message}`,
      );
    }
    if (res.ok) return res.body;
    throw serverError(res.status, res.body, this.url);
  }
}

/** A request on a presigned URL, straight to the store: the server never sees these bytes. */
async function direct(req: PresignedRequest, body: Buffer | undefined, key: string, maxBytes: number): Promise<Buffer> {
  let res: BytesAnswer;
  try {
    res = await sendBytes(req.url, { method: req.method, headers: req.headers, maxBytes, ...(body ? { body } : {}) });
  } catch (err) {
    // Not retried: the same store would send the same.
    if (err instanceof AnswerTooLarge)
      throw new CairnError('IO_ERROR', `the store sent more than ${maxBytes} bytes for ${key}`, {
        hint: 'the server planned this download; is the store it points at the one it uses?',
        data: { key, maxBytes, tooLarge: true },
      });
    throw new CairnError('IO_ERROR', `the store did not answer for ${key}: ${(err as Error).message}`, {
      data: { key },
    });
  }
  if (res.ok) return res.body;
  const text = res.body.toString('utf8').slice(0, 300);
  if (res.status === 400 && /BadDigest|InvalidDigest/.test(text))
    throw new CairnError('UPLOAD_MISMATCH', `the store refused the bytes of ${key}: they do not match the plan`, {
      data: { key },
    });
  // A URL replayed after its upload completed or was aborted, or past its expiry.
  if ((res.status === 404 && /NoSuchUpload/.test(text)) || (res.status === 403 && /expired/i.test(text)))
    throw new CairnError('UPLOAD_UNKNOWN', `the upload URL for ${key} is no longer valid (${res.status}): ${text}`, {
      hint: 'push again: the server plans a fresh upload',
      data: { key, status: res.status },
    });
  throw new CairnError('IO_ERROR', `the store answered ${res.status} for ${key}: ${text}`, {
    data: { key, status: res.status },
  });
}

/** The transport bound of a read for a caller who accepts `wanted` bytes: room for an error's body above it. */
function bound(own: number, wanted: number): number {
  return Math.min(own, wanted + ANSWER_MARGIN);
}

/** The answer when it is within what the caller accepts. */
function fitting(body: Buffer, key: string, wanted: number): Buffer {
  if (body.length > wanted) throw tooLargeFor(key, wanted);
  return body;
}

function tooLargeFor(key: string, maxBytes: number, announced?: number): CairnError {
  const what = announced !== undefined ? `plans ${announced} bytes` : `sent more than ${maxBytes} bytes`;
  return new CairnError(
    'IO_ERROR',
    `the server ${what} for ${key}, more than the ${maxBytes} expected; nothing was kept`,
    {
      hint: 'the server or its store is not the one this workspace pushed to, or is broken; check it (cairn remote fsck)',
      data: { key, maxBytes, tooLarge: true, ...(announced !== undefined ? { announced } : {}) },
    },
  );
}

/** The server's Retry-After (in its error's data), with up to a fifth more so that refused senders spread out. */
function busyWaitMs(err: CairnError): number {
  const s = err.data?.retryAfterSeconds;
  const base = typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s * 1000 : 5000;
  return Math.min(BUSY_WAIT_MAX_MS, base * (1 + Math.random() / 5));
}

function partsOf(body: Buffer, partBytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length || out.length === 0; at += partBytes)
    out.push(body.subarray(at, Math.min(body.length, at + partBytes)));
  return out;
}

function md5Of(b: Buffer): string {
  return createHash('md5').update(b).digest('base64');
}

/** No answer at all (reset, refused), or one worth asking again (5xx, 429, 408); never one cut off for its size. */
function retryableStatus(err: CairnError): boolean {
  if (err.data?.tooLarge === true) return false;
  const status = err.data?.status as number | undefined;
  return status === undefined || status >= 500 || status === 429 || status === 408;
}

function serverError(status: number, bytes: Buffer, url: string): CairnError {
  let e: { code?: string; message?: string; hint?: string; data?: Record<string, unknown> } | undefined;
  try {
    e = (JSON.parse(bytes.toString('utf8')) as { error?: typeof e }).error;
  } catch {
    e = undefined;
  }
  const code = (e?.code && e.code in errorCatalogue ? e.code : 'INTERNAL') as ErrorCode;
  return new CairnError(code, e?.message ?? `${url} answered ${status}`, {
    ...(e?.hint ? { hint: e.hint } : {}),
    ...(e?.data ? { data: e.data } : {}),
  });
}
