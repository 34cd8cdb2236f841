import { SignatureV4 } from '@smithy/signature-v4';
import type { S3Client } from '@aws-sdk/client-s3';
import { CairnError } from '../../../core/errors.js';
import type { PresignedRequest, PresignOptions } from '../port.js';

/** Longest a presigned URL may live (S3's own limit for SigV4 is 7 days; Cairn hands out minutes). */
const MAX_EXPIRY_SECONDS = 3600;

/**
 * A SigV4 query-signed URL for one GET or PUT of `objectKey` (what `@aws-sdk/s3-request-presigner`
 * does, with the SDK's own signer). The headers given are signed, not hoisted into the query: a
 * PUT must carry the planned Content-MD5 and length, and S3 refuses a request without them.
 */
export async function presignS3(
  s: {
    client: S3Client;
    bucket: string;
    objectKey: string;
    endpoint?: string;
    pathStyle: boolean;
    /** Signed with the rest (UploadPart's `partNumber` and `uploadId`): a URL is for that part only. */
    query?: Record<string, string>;
  },
  method: 'GET' | 'PUT',
  opts: PresignOptions,
): Promise<PresignedRequest> {
  if (opts.expiresInSeconds < 1 || opts.expiresInSeconds > MAX_EXPIRY_SECONDS)
    throw new CairnError('USAGE', `a presigned URL lives 1 to ${MAX_EXPIRY_SECONDS} s, not ${opts.expiresInSeconds}`);
  const cfg = s.client.config;
  const region = await cfg.region();
  const base = new URL(s.endpoint ?? `https://s3.${region}.amazonaws.com`);
  const pathStyle = s.pathStyle || s.endpoint !== undefined;
  const hostname = pathStyle ? base.hostname : `${s.bucket}.${base.hostname}`;
  const host = base.port ? `${hostname}:${base.port}` : hostname;
  const encodedKey = s.objectKey.split('/').map(encodeURIComponent).join('/');
  const path = `${base.pathname.replace(/\/+$/, '')}${pathStyle ? `/${s.bucket}` : ''}/${encodedKey}`;
  const signed = { ...(opts.headers ?? {}) };
  const signer = new SignatureV4({
    credentials: cfg.credentials,
    region,
    service: 's3',
    sha256: cfg.sha256,
    uriEscapePath: false,
  });
  const req = await signer.presign(
    {
      method,
      protocol: base.protocol,
      hostname,
      ...(base.port ? { port: Number(base.port) } : {}),
      path,
      query: { ...(s.query ?? {}) },
      headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...signed },
    },
    { expiresIn: opts.expiresInSeconds, unhoistableHeaders: new Set(Object.keys(signed)) },
  );
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {}))
    for (const one of Array.isArray(v) ? v : [v]) if (typeof one === 'string') q.append(k, one);
  return {
    method,
    url: `${base.protocol}//${host}${path}?${q.toString()}`,
    headers: signed,
    expiresAt: new Date(Date.now() + opts.expiresInSeconds * 1000).toISOString(),
  };
}
