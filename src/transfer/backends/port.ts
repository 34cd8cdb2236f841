/**
 * What every remote backend (S3, a shared filesystem, SFTP) offers: a flat namespace of
 * immutable objects under string keys (`packs/ab/<id>.pack`, `meta/state.json`, …). Keys are
 * relative, `/`-separated, and never contain `..`, a leading `/` or NUL (assertKey).
 *
 * Contract, checked for every backend by the shared conformance suite (conformance.case.ts):
 * - `put` is atomic: a reader sees the whole object or none of it (temp name + rename, or a
 *   single / completed multipart upload); an interrupted put leaves no object under `key`.
 *   Putting an existing key replaces it.
 * - `get` of an absent key is a NOT_FOUND CairnError; `head` of one returns null.
 * - `list(prefix)` returns every key starting with `prefix` (sorted), with sizes; no
 *   temporary or partial objects.
 * - `delete` of an absent key succeeds.
 * - Transient failures (5xx, resets, timeouts) are retried inside the backend with backoff and
 *   jitter (retry.ts); what still fails is a CairnError with code IO_ERROR and `data.key`.
 */
export interface RemoteBackend {
  /** The remote's URL without credentials, for messages and audit events. */
  readonly url: string;
  head(key: string): Promise<{ size: number } | null>;
  /**
   * The whole object. A remote that sends more than `maxBytes` (the caller's expected size, e.g.
   * a pack's recorded size; else the backend's own bound) fails with IO_ERROR and
   * `data.tooLarge`, having read no more than that: a broken or hostile remote cannot make the
   * reader buffer without end.
   */
  get(key: string, opts?: GetOptions): Promise<Buffer>;
  put(key: string, body: Buffer): Promise<void>;
  /**
   * Every key under `prefix`, at most `maxKeys` of them (DEFAULT_MAX_LIST_KEYS when the caller
   * names none): a remote that lists more fails with IO_ERROR and `data.tooMany`, having held no
   * more than that, so a store that lists without end cannot make the reader loop or buffer
   * without end.
   */
  list(prefix: string, opts?: ListOptions): Promise<Array<{ key: string; size: number }>>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional (S3): a time-limited URL for one request on `key`, so bytes go between a client and
   * the store without passing through whoever hands the URL out. `headers` are signed: the
   * request must carry exactly them (Content-MD5 makes S3 refuse other bytes).
   */
  presign?(method: 'GET' | 'PUT', key: string, opts: PresignOptions): Promise<PresignedRequest>;
  /** Optional (S3): size and ETag (the MD5 of a single-part upload) without reading the bytes. */
  stat?(key: string): Promise<{ size: number; etag: string } | null>;
  /** Optional (S3): copies an object inside the store, without its bytes leaving the store. */
  copy?(from: string, to: string): Promise<void>;
  /**
   * Optional (S3): size and SHA-256 of an object, streamed through the hash (never buffered
   * whole), so a server can check what a client assembled in the store without holding it.
   */
  digest?(key: string): Promise<{ size: number; sha256: string } | null>;
  /**
   * Optional (folder, S3): `length` bytes of `key` from `offset` (fewer only past its end), so a
   * server can check a large object against its name in bounded memory. NOT_FOUND when absent;
   * a remote that sends more than `length` bytes is IO_ERROR with `data.tooLarge`.
   */
  getRange?(key: string, offset: number, length: number): Promise<Buffer>;
  /** Optional (S3): multipart uploads whose parts clients send on presigned URLs. */
  multipart?: MultipartUploads;
}

/**
 * A store's multipart uploads, driven by whoever plans them (the team server): it starts one,
 * hands out one presigned UploadPart per part (Content-MD5 and length signed), completes it
 * with the part list it planned itself, and aborts what is abandoned. Until Complete, nothing
 * is visible under the key; after Abort, the parts are gone and their URLs answer NoSuchUpload.
 */
export interface MultipartUploads {
  start(key: string, metadata: Record<string, string>): Promise<string>;
  presignPart(key: string, uploadId: string, partNumber: number, opts: PresignOptions): Promise<PresignedRequest>;
  complete(key: string, uploadId: string, parts: ReadonlyArray<{ partNumber: number; etag: string }>): Promise<void>;
  /** The parts the store holds for an upload so far, by number, with sizes and ETags (hex MD5). */
  parts(key: string, uploadId: string): Promise<Array<{ partNumber: number; size: number; etag: string }>>;
  /** Succeeds when the upload is already gone (completed or aborted). */
  abort(key: string, uploadId: string): Promise<void>;
  /** Multipart uploads started and neither completed nor aborted, under `prefix`. */
  list(prefix: string): Promise<Array<{ key: string; uploadId: string; initiated: string | null }>>;
}

export interface GetOptions {
  /** The most bytes the caller accepts for this object. */
  maxBytes?: number;
}

export interface ListOptions {
  /** The most keys the caller accepts under the prefix. */
  maxKeys?: number;
}

/**
 * The bound on one `list` when the caller names none: a million 32 MiB packs is 32 TB on one
 * remote, and a million keys listed cost about 150 MB of memory.
 */
export const DEFAULT_MAX_LIST_KEYS = 1_000_000;

/**
 * The bound on one `get` when the caller names none: the largest pack a push makes is far
 * smaller, and the team server's own plans cap packs at 2 GiB too.
 */
export const DEFAULT_MAX_GET_BYTES = 2 * 1024 * 1024 * 1024;

export interface PresignOptions {
  expiresInSeconds: number;
  headers?: Record<string, string>;
}

export interface PresignedRequest {
  method: 'GET' | 'PUT';
  url: string;
  headers: Record<string, string>;
  expiresAt: string;
}
