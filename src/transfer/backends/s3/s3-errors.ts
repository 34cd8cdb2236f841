import { CairnError } from '../../../core/errors.js';
import { isTransientNetworkError } from '../retry.js';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of a failed S3 call; undefined when no response came (reset, timeout). */
export function s3Status(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

export function s3ErrorName(err: unknown): string | undefined {
  return (err as SdkErrorShape | undefined)?.name;
}

// S3 and S3-compatible stores spell "slow down" several ways, some of them with status 400/503.
const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
// Errors without a useful status that a new connection may cure.
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'InternalError']);
const TRANSIENT_CODES = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNREFUSED']);

/**
 * Worth another attempt: 5xx, 429 and throttling, timeouts, dropped connections. Other 4xx
 * (403 AccessDenied, 404 NoSuchBucket, 400 BadDigest…) would fail the same way again.
 */
export function isRetryableS3Error(err: unknown): boolean {
  if (isTransientNetworkError(err)) return true;
  const e = err as SdkErrorShape | undefined;
  if (e?.name && (THROTTLING.has(e.name) || TRANSIENT_NAMES.has(e.name))) return true;
  if (e?.code && TRANSIENT_CODES.has(e.code)) return true;
  const status = s3Status(err);
  return status !== undefined && (status >= 500 || status === 429 || status === 408);
}

export function isS3NotFound(err: unknown): boolean {
  const name = s3ErrorName(err);
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    (s3Status(err) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload')
  );
}

/** What is left after the retries, as the IO_ERROR the port promises. */
export function s3Failure(url: string, action: string, key: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const status = s3Status(err) ?? null;
  const name = s3ErrorName(err);
  const detail = (err as SdkErrorShape | undefined)?.message || name || String(err);
  const why = status === null ? detail : `HTTP ${status}${name && name !== 'Unknown' ? ` ${name}` : ''}: ${detail}`;
  const hint =
    status === 403
      ? `Check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…) and that they may access ${url}.`
      : name === 'NoSuchBucket'
        ? `Create the bucket of ${url} first, or fix the remote's URL.`
        : undefined;
  return new CairnError('IO_ERROR', `cannot ${action} ${key} on ${url}: ${why}`, {
    data: { key, status, code: name ?? (err as SdkErrorShape | undefined)?.code ?? null },
    cause: err,
    ...(hint ? { hint } : {}),
  });
}
