import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CairnError } from '../../../core/errors.js';
import { assertKey } from '../keys.js';
import type {
  GetOptions,
  ListOptions,
  MultipartUploads,
  PresignedRequest,
  PresignOptions,
  RemoteBackend,
} from '../port.js';
import { getBound, listBound, readBounded, tooLarge, tooMany } from '../bounded.js';
import { presignS3 } from './presign.js';
import { withRetry } from '../retry.js';
import { MAX_PARTS, MIN_PART_BYTES, multipartPut } from './multipart.js';
import { isRetryableS3Error, isS3NotFound, s3ErrorName, s3Failure } from './s3-errors.js';

export interface S3BackendOptions {
  bucket: string;
  /** Folder inside the bucket; '' for the bucket's root. Leading and trailing '/' are ignored. */
  prefix: string;
  /** For S3-compatible stores (MinIO, Ceph, s3rver): `http(s)://host:port`. */
  endpoint?: string;
  /** Default us-east-1 (app/ passes the remote's region, else AWS_REGION). */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need. */
  forcePathStyle?: boolean;
  /** Defaults to the AWS SDK's provider chain (environment, AWS_PROFILE, ~/.aws, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Objects larger than this go up in parts of this size (default 8 MiB, at least 5 MiB). */
  partSizeBytes?: number;
  /** Parts in flight at once for one object (default 4). */
  partConcurrency?: number;
  /** Longest a connection attempt or a stalled transfer may take (default 60 s). */
  timeoutMs?: number;
  /** Attempts per request, in all (default 5). */
  attempts?: number;
  /** First back-off in ms (default 200); tests set it low. */
  baseDelayMs?: number;
  /** Keys per ListObjectsV2 page (default and S3's maximum 1000). */
  listPageSize?: number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/**
 * A remote in an S3 bucket (`s3://bucket/prefix`). Every object carries the sha256 of its bytes
 * as user metadata, set by the same request that writes it, so a download that no longer
 * matches is CORRUPT_OBJECT rather than silently bad data. Uploads also send Content-MD5 per
 * request, which S3 checks before it stores anything.
 */
export class S3Backend implements RemoteBackend {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly opts: S3BackendOptions;
  private readonly partBytes: number;

  constructor(opts: S3BackendOptions) {
    this.opts = opts;
    this.bucket = opts.bucket;
    this.prefix = opts.prefix.replace(/^\/+|\/+$/g, '');
    if (this.prefix) assertKey(this.prefix);
    this.url = this.prefix ? `s3://${opts.bucket}/${this.prefix}` : `s3://${opts.bucket}`;
    this.partBytes = opts.partSizeBytes ?? DEFAULT_PART_BYTES;
    if (this.partBytes < MIN_PART_BYTES)
      throw new CairnError('USAGE', `the S3 part size must be at least ${MIN_PART_BYTES} bytes, not ${this.partBytes}`);
    const timeout = opts.timeoutMs ?? 60_000;
    this.client = new S3Client({
      region: opts.region ?? 'us-east-1',
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Our retries (withRetry) are the only ones: one policy, one onRetry, testable.
      maxAttempts: 1,
      // The SDK's default CRC32 trailers use aws-chunked bodies, which S3-compatible stores
      // (s3rver, older MinIO/Ceph) store verbatim; Content-MD5 and the sha256 metadata suffice.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // An inactivity timeout, not a deadline: a large object on a slow link is fine as long
      // as bytes keep moving.
      requestHandler: { connectionTimeout: timeout, socketTimeout: timeout },
    });
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private retried<T>(action: string, key: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    return withRetry(fn, {
      attempts: this.opts.attempts ?? 5,
      ...(this.opts.baseDelayMs !== undefined ? { baseDelayMs: this.opts.baseDelayMs } : {}),
      retryable: isRetryableS3Error,
      ...(this.opts.onRetry ? { onRetry: this.opts.onRetry } : {}),
    }).catch((err: unknown) => {
      throw s3Failure(this.url, action, key, err);
    });
  }

  async head(key: string): Promise<{ size: number } | null> {
    const Key = this.objectKey(key);
    return this.retried('stat', key, async () => {
      try {
        const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
        return { size: res.ContentLength ?? 0 };
      } catch (err) {
        if (isS3NotFound(err)) return null;
        throw err;
      }
    });
  }

  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const Key = this.objectKey(key);
    const max = getBound(opts);
    const { body, sha256 } = await this.retried('download', key, async () => {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
        const bytes = await this.bounded(res, key, max);
        return { body: bytes, sha256: res.Metadata?.sha256 };
      } catch (err) {
        if (isS3NotFound(err)) throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
        throw err;
      }
    });
    // Objects written by other tools carry no sha256; those are taken as they are.
    if (sha256 !== undefined) {
      const actual = createHash('sha256').update(body).digest('hex');
      if (actual !== sha256.toLowerCase()) {
        throw new CairnError(
          'CORRUPT_OBJECT',
          `${this.url}/${key} does not match the sha256 it was stored with (expected ${sha256}, got ${actual})`,
          { data: { key, expected: sha256, actual } },
        );
      }
    }
    return body;
  }

  /**
   * A byte range of an object (the whole object's `sha256` metadata cannot be checked on a part:
   * callers check what they read against their own digests, as the server's pack check does).
   */
  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const Key = this.objectKey(key);
    if (length <= 0) return Buffer.alloc(0);
    return this.retried('download', key, async () => {
      try {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key, Range: `bytes=${offset}-${offset + length - 1}` }),
        );
        // A store that ignores the Range and sends the whole object (or more) is cut off at `length`.
        return await this.bounded(res, key, length);
      } catch (err) {
        if (isS3NotFound(err)) throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
        // A range starting past the end: nothing there.
        if ((err as { name?: string }).name === 'InvalidRange') return Buffer.alloc(0);
        throw err;
      }
    });
  }

  /**
   * An answer's body, read up to `max` bytes: a declared length past it fails before a byte is
   * read, an undeclared one as soon as it passes it; a body shorter than declared is a dropped
   * connection (retried).
   */
  private async bounded(res: { Body?: unknown; ContentLength?: number }, key: string, max: number): Promise<Buffer> {
    const body = res.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    if (res.ContentLength !== undefined && res.ContentLength > max) {
      body?.destroy?.();
      throw tooLarge(this.url, key, max, res.ContentLength);
    }
    const bytes = body ? await readBounded(body, max, () => tooLarge(this.url, key, max)) : Buffer.alloc(0);
    if (res.ContentLength !== undefined && bytes.length !== res.ContentLength)
      throw Object.assign(new Error(`the download ended after ${bytes.length} of ${res.ContentLength} bytes`), {
        code: 'ERR_STREAM_PREMATURE_CLOSE',
      });
    return bytes;
  }

  async put(key: string, body: Buffer): Promise<void> {
    const Key = this.objectKey(key);
    const sha256 = createHash('sha256').update(body).digest('hex');
    // Grow the parts rather than fail for objects past 10,000 × the part size.
    const partBytes = Math.max(this.partBytes, Math.ceil(body.length / MAX_PARTS));
    if (body.length <= partBytes) {
      const md5 = createHash('md5').update(body).digest('base64');
      await this.retried('upload', key, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: body,
            ContentLength: body.length,
            ContentMD5: md5,
            Metadata: { sha256 },
          }),
        ),
      );
      return;
    }
    await multipartPut(
      {
        client: this.client,
        bucket: this.bucket,
        objectKey: Key,
        retried: (action, fn) => this.retried(action, key, fn),
        landed: async () => {
          try {
            const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
            return res.ContentLength === body.length && res.Metadata?.sha256 === sha256;
          } catch (err) {
            if (isS3NotFound(err)) return false;
            throw err;
          }
        },
      },
      { body, sha256, partBytes, concurrency: this.opts.partConcurrency ?? 4 },
    );
  }

  async list(prefix: string, opts?: ListOptions): Promise<Array<{ key: string; size: number }>> {
    const root = this.prefix ? `${this.prefix}/` : '';
    const max = listBound(opts);
    const out: Array<{ key: string; size: number }> = [];
    // Every key listed counts against the bound, skipped ones too, and a truncated page with
    // none counts as one: a store that answers "truncated" forever is stopped, not followed.
    let seen = 0;
    let token: string | undefined;
    do {
      const page = await this.retried('list', prefix || '(all keys)', () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: root + prefix,
            ContinuationToken: token,
            MaxKeys: this.opts.listPageSize ?? 1000,
          }),
        ),
      );
      seen += page.Contents?.length || (page.IsTruncated ? 1 : 0);
      if (seen > max) throw tooMany(this.url, prefix, max);
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(root)) continue;
        const key = o.Key.slice(root.length);
        // Console "folder" markers (`a/b/`) and keys no put of ours could write are not objects
        // of this remote; a caller must never be handed a key that escapes its root.
        if (!isSafeKey(key)) continue;
        out.push({ key, size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.retried('delete', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  presign(
    method: 'GET' | 'PUT',
    key: string,
    opts: PresignOptions,
    query?: Record<string, string>,
  ): Promise<PresignedRequest> {
    return presignS3(
      {
        client: this.client,
        bucket: this.bucket,
        objectKey: this.objectKey(key),
        ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}),
        pathStyle: this.opts.forcePathStyle ?? false,
        ...(query ? { query } : {}),
      },
      method,
      opts,
    );
  }

  async digest(key: string): Promise<{ size: number; sha256: string } | null> {
    const Key = this.objectKey(key);
    return this.retried('download', key, async () => {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          size += chunk.length;
        }
        if (res.ContentLength !== undefined && size !== res.ContentLength)
          throw Object.assign(new Error(`the download ended after ${size} of ${res.ContentLength} bytes`), {
            code: 'ERR_STREAM_PREMATURE_CLOSE',
          });
        return { size, sha256: hash.digest('hex') };
      } catch (err) {
        if (isS3NotFound(err)) return null;
        throw err;
      }
    });
  }

  readonly multipart: MultipartUploads = {
    start: async (key, metadata) => {
      const Key = this.objectKey(key);
      // A lost reply orphans an upload whose id nobody learns: the server's sweep (list + abort) reclaims it.
      const res = await this.retried('start a multipart upload of', key, () =>
        this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, Metadata: metadata })),
      );
      if (!res.UploadId) throw new CairnError('IO_ERROR', `${this.url}: CreateMultipartUpload returned no UploadId`);
      return res.UploadId;
    },
    presignPart: (key, uploadId, partNumber, opts) =>
      this.presign('PUT', key, opts, { partNumber: String(partNumber), uploadId }),
    complete: async (key, uploadId, parts) => {
      const Key = this.objectKey(key);
      await this.retried('complete the multipart upload of', key, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
          }),
        ),
      );
    },
    parts: async (key, uploadId) => {
      const Key = this.objectKey(key);
      const out: Array<{ partNumber: number; size: number; etag: string }> = [];
      let marker: string | undefined;
      do {
        const page = await this.retried('list the parts of', key, () =>
          this.client.send(
            new ListPartsCommand({ Bucket: this.bucket, Key, UploadId: uploadId, PartNumberMarker: marker }),
          ),
        );
        for (const p of page.Parts ?? [])
          out.push({ partNumber: p.PartNumber ?? 0, size: p.Size ?? 0, etag: (p.ETag ?? '').replace(/"/g, '') });
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
      return out;
    },
    abort: async (key, uploadId) => {
      const Key = this.objectKey(key);
      await this.retried('abort the multipart upload of', key, async () => {
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId }));
        } catch (err) {
          if (s3ErrorName(err) !== 'NoSuchUpload') throw err;
        }
      });
    },
    list: async (prefix) => {
      const root = this.prefix ? `${this.prefix}/` : '';
      const out: Array<{ key: string; uploadId: string; initiated: string | null }> = [];
      let keyMarker: string | undefined;
      let idMarker: string | undefined;
      do {
        const page = await this.retried('list the multipart uploads under', prefix || '(all keys)', () =>
          this.client.send(
            new ListMultipartUploadsCommand({
              Bucket: this.bucket,
              Prefix: root + prefix,
              KeyMarker: keyMarker,
              UploadIdMarker: idMarker,
            }),
          ),
        );
        for (const u of page.Uploads ?? []) {
          if (!u.Key?.startsWith(root) || !u.UploadId || !isSafeKey(u.Key.slice(root.length))) continue;
          out.push({
            key: u.Key.slice(root.length),
            uploadId: u.UploadId,
            initiated: u.Initiated?.toISOString() ?? null,
          });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
      return out;
    },
  };

  async stat(key: string): Promise<{ size: number; etag: string } | null> {
    const Key = this.objectKey(key);
    return this.retried('stat', key, async () => {
      try {
        const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
        return { size: res.ContentLength ?? 0, etag: (res.ETag ?? '').replace(/"/g, '') };
      } catch (err) {
        if (isS3NotFound(err)) return null;
        throw err;
      }
    });
  }

  async copy(from: string, to: string): Promise<void> {
    const source = `${this.bucket}/${this.objectKey(from).split('/').map(encodeURIComponent).join('/')}`;
    const Key = this.objectKey(to);
    await this.retried('copy', to, () =>
      this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key, CopySource: source })),
    );
  }
}

function isSafeKey(key: string): boolean {
  try {
    assertKey(key);
    return true;
  } catch {
    return false;
  }
}
