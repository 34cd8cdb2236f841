import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedS3Server, stopSharedS3Server } from '../../../test-support/s3-server.js';
import type { S3TestServer } from '../../../test-support/s3-server.js';
import { remoteBackendConformance } from '../conformance.case.js';
import { ensureBucket } from './bucket.js';
import { isAbortUpload, isCompleteUpload, isCreateUpload, isUploadPart, startFaultProxy } from './fault-proxy.case.js';
import type { Fault, FaultProxy } from './fault-proxy.case.js';
import { S3Backend } from './s3-backend.js';
import type { S3BackendOptions } from './s3-backend.js';

const MiB = 1024 * 1024;

afterAll(stopSharedS3Server);

function backendOn(server: S3TestServer, extra: Partial<S3BackendOptions> = {}): S3Backend {
  return new S3Backend({
    bucket: server.bucket,
    prefix: `t-${randomBytes(6).toString('hex')}`,
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: server.credentials,
    baseDelayMs: 1,
    ...extra,
  });
}

remoteBackendConformance(
  's3://',
  () => ({
    open: async () => backendOn((await sharedS3Server())!),
    reopen: async (b) => backendOn((await sharedS3Server())!, { prefix: (b as S3Backend).prefix }),
  }),
  async () => (await sharedS3Server()) !== null,
);

type Ctx = { skip: () => void };

/** Runs `fn` with the shared s3rver and a fault proxy in front of it; skips when s3rver is absent. */
async function withProxy(ctx: Ctx, fn: (server: S3TestServer, proxy: FaultProxy) => Promise<void>): Promise<void> {
  const server = await sharedS3Server();
  if (!server) return ctx.skip();
  const proxy = await startFaultProxy(server.endpoint);
  try {
    await fn(server, proxy);
  } finally {
    await proxy.close();
  }
}

/** The next requests through `proxy` meet `faults` in turn, then pass. */
function failNext(proxy: FaultProxy, faults: Fault[]): void {
  const start = proxy.seen.length;
  proxy.rule = (_r, i) => faults[i - start] ?? 'forward';
}

function retriesOf(): { calls: Array<{ err: unknown; attempt: number }>; onRetry: S3BackendOptions['onRetry'] } {
  const calls: Array<{ err: unknown; attempt: number }> = [];
  return { calls, onRetry: (err, attempt) => void calls.push({ err, attempt }) };
}

const pendingUploads = async (server: S3TestServer, b: S3Backend): Promise<string[]> => {
  const res = await b.client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: `${b.prefix}/` }));
  return (res.Uploads ?? []).map((u) => u.UploadId ?? '');
};

const uploadFolderEntries = (server: S3TestServer): string[] => {
  const dir = join(server.directory, server.bucket, '._S3rver_uploads');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('S3Backend against s3rver', () => {
  it('puts an object above the part size as a multipart upload, and one at the part size in one request', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const b = backendOn(server, { endpoint: proxy.endpoint, partSizeBytes: 5 * MiB, partConcurrency: 2 });
      try {
        const body = randomBytes(20 * MiB);
        await b.put('packs/ab/big.pack', body);
        expect(proxy.maxInFlight).toBeLessThanOrEqual(2);
        expect(proxy.seen.filter(isCreateUpload)).toHaveLength(1);
        const parts = proxy.seen.filter(isUploadPart);
        expect(parts.map((p) => p.query.get('partNumber')).sort()).toEqual(['1', '2', '3', '4']);
        expect(parts.map((p) => p.contentLength)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB]);
        expect(new Set(parts.map((p) => p.query.get('uploadId'))).size).toBe(1);
        expect(proxy.seen.filter(isCompleteUpload)).toHaveLength(1);
        expect(proxy.seen.filter((r) => r.method === 'PUT' && !isUploadPart(r))).toHaveLength(0);
        // Content-MD5 on every part; none of the SDK's aws-chunked CRC trailers, which
        // S3-compatible stores would store as part of the bytes.
        for (const p of parts) {
          expect(p.headers['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
          expect(p.headers['content-encoding'] ?? '').not.toContain('aws-chunked');
          expect(Object.keys(p.headers).filter((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-trailer')).toEqual(
            [],
          );
        }
        expect((await b.get('packs/ab/big.pack')).equals(body)).toBe(true);
        expect(await b.head('packs/ab/big.pack')).toEqual({ size: 20 * MiB });

        proxy.seen.length = 0;
        await b.put('packs/ab/edge.pack', randomBytes(5 * MiB));
        expect(proxy.seen.map((r) => `${r.method} ${r.query.has('partNumber') || r.query.has('uploads')}`)).toEqual([
          'PUT false',
        ]);
      } finally {
        await b.close();
      }
    });
  });

  it('retries 5xx, throttling and dropped connections, then succeeds; onRetry hears each', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const r = retriesOf();
      const b = backendOn(server, { endpoint: proxy.endpoint, onRetry: r.onRetry });
      try {
        const body = randomBytes(3000);
        failNext(proxy, [{ status: 500, code: 'InternalError' }, 'reset', { status: 503, code: 'SlowDown' }]);
        await b.put('meta/state.json', body);
        expect(r.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
        expect(proxy.seen.map((s) => s.method)).toEqual(['PUT', 'PUT', 'PUT', 'PUT']);

        failNext(proxy, [{ status: 429, code: 'TooManyRequests' }, 'reset']);
        expect((await b.get('meta/state.json')).equals(body)).toBe(true);
        expect(r.calls).toHaveLength(5);

        failNext(proxy, [{ status: 502, code: 'BadGateway' }]);
        expect(await b.list('meta/')).toEqual([{ key: 'meta/state.json', size: 3000 }]);
        expect(r.calls).toHaveLength(6);
      } finally {
        await b.close();
      }
    });
  });

  it('gives up after the attempts with IO_ERROR naming the key and the status', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const r = retriesOf();
      const b = backendOn(server, { endpoint: proxy.endpoint, attempts: 3, onRetry: r.onRetry });
      try {
        proxy.rule = () => ({ status: 500, code: 'InternalError' });
        const err = await b.get('meta/x').catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'IO_ERROR', data: { key: 'meta/x', status: 500 } });
        expect((err as Error).message).toContain(b.url);
        expect(proxy.seen).toHaveLength(3);
        expect(r.calls).toHaveLength(2);

        proxy.rule = () => 'reset';
        await expect(b.put('meta/y', Buffer.from('y'))).rejects.toMatchObject({
          code: 'IO_ERROR',
          data: { key: 'meta/y', status: null },
        });
        expect(proxy.seen).toHaveLength(6);
      } finally {
        await b.close();
      }
    });
  });

  it('does not retry a 4xx: a refused identity fails at once', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const r = retriesOf();
      // s3rver itself answers 403 InvalidAccessKeyId to an unknown key id.
      const stranger = backendOn(server, {
        endpoint: proxy.endpoint,
        onRetry: r.onRetry,
        credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'nothing' },
      });
      const b = backendOn(server, { endpoint: proxy.endpoint, onRetry: r.onRetry });
      try {
        const err = await stranger.put('meta/x', Buffer.from('x')).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'IO_ERROR', data: { key: 'meta/x', status: 403 } });
        expect((err as { hint?: string }).hint).toMatch(/credentials/);
        expect(proxy.seen).toHaveLength(1);

        proxy.rule = () => ({ status: 403, code: 'AccessDenied' });
        await expect(b.get('meta/x')).rejects.toMatchObject({ code: 'IO_ERROR', data: { key: 'meta/x', status: 403 } });
        proxy.rule = () => ({ status: 400, code: 'BadDigest' });
        await expect(b.put('meta/x', Buffer.from('x'))).rejects.toMatchObject({
          code: 'IO_ERROR',
          data: { status: 400 },
        });
        expect(proxy.seen).toHaveLength(3);
        expect(r.calls).toHaveLength(0);
      } finally {
        await stranger.close();
        await b.close();
      }
    });
  });

  it('an upload whose part keeps failing leaves no object and no pending upload', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const b = backendOn(server, { endpoint: proxy.endpoint, partSizeBytes: 5 * MiB, attempts: 2 });
      try {
        proxy.rule = (req) =>
          isUploadPart(req) && req.query.get('partNumber') === '3' ? { status: 500, code: 'InternalError' } : 'forward';
        await expect(b.put('packs/ab/doomed.pack', randomBytes(20 * MiB))).rejects.toMatchObject({
          code: 'IO_ERROR',
          data: { key: 'packs/ab/doomed.pack', status: 500 },
        });
        const uploadId = proxy.seen.find(isUploadPart)?.query.get('uploadId');
        expect(proxy.seen.filter(isAbortUpload).map((r) => r.query.get('uploadId'))).toEqual([uploadId]);
        expect(proxy.seen.filter(isCompleteUpload)).toHaveLength(0);
        expect(await b.head('packs/ab/doomed.pack')).toBeNull();
        expect(await b.list('')).toEqual([]);
        expect(await pendingUploads(server, b)).toEqual([]);
        expect(uploadFolderEntries(server)).not.toContain(uploadId);
      } finally {
        await b.close();
      }
    });
  });

  it('the pending-upload listing used above does see an unfinished upload', async (ctx) => {
    const server = await sharedS3Server();
    if (!server) return ctx.skip();
    const b = backendOn(server);
    try {
      const { UploadId } = await b.client.send(
        new CreateMultipartUploadCommand({ Bucket: server.bucket, Key: `${b.prefix}/x` }),
      );
      expect(await pendingUploads(server, b)).toEqual([UploadId]);
      await b.client.send(new AbortMultipartUploadCommand({ Bucket: server.bucket, Key: `${b.prefix}/x`, UploadId }));
      expect(await pendingUploads(server, b)).toEqual([]);
    } finally {
      await b.close();
    }
  });

  it('a completion whose reply is lost is recognised as done, not repeated or failed', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const r = retriesOf();
      const b = backendOn(server, { endpoint: proxy.endpoint, partSizeBytes: 5 * MiB, onRetry: r.onRetry });
      try {
        let lost = false;
        proxy.rule = (req) => (isCompleteUpload(req) && !lost ? ((lost = true), 'lose-reply') : 'forward');
        const body = randomBytes(11 * MiB);
        await b.put('packs/ab/p.pack', body);
        expect(r.calls).toHaveLength(1);
        // The retry looked before completing again, and found the object in place.
        expect(proxy.seen.filter(isCompleteUpload)).toHaveLength(1);
        expect(proxy.seen.filter((s) => s.method === 'HEAD')).toHaveLength(1);
        expect((await b.get('packs/ab/p.pack')).equals(body)).toBe(true);
        expect(await pendingUploads(server, b)).toEqual([]);
      } finally {
        await b.close();
      }
    });
  });

  it('a request that stalls past timeoutMs is abandoned and retried', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const r = retriesOf();
      const b = backendOn(server, { endpoint: proxy.endpoint, timeoutMs: 300, onRetry: r.onRetry });
      try {
        await b.put('meta/slow', Buffer.from('patience'));
        failNext(proxy, ['hang']);
        expect((await b.get('meta/slow')).toString()).toBe('patience');
        expect(r.calls.map((c) => (c.err as Error).name)).toEqual(['TimeoutError']);
      } finally {
        await b.close();
      }
    });
  });

  it('a stored object whose bytes changed is CORRUPT_OBJECT; one written without a sha256 is read as is', async (ctx) => {
    const server = await sharedS3Server();
    if (!server) return ctx.skip();
    const b = backendOn(server);
    try {
      await b.put('packs/ab/rot.pack', Buffer.from('the quick brown fox'));
      const file = join(server.directory, server.bucket, b.prefix, 'packs', 'ab', 'rot.pack._S3rver_object');
      const bytes = readFileSync(file);
      bytes[4] = bytes[4]! ^ 0x01;
      writeFileSync(file, bytes);
      await expect(b.get('packs/ab/rot.pack')).rejects.toMatchObject({
        code: 'CORRUPT_OBJECT',
        data: { key: 'packs/ab/rot.pack' },
      });

      await b.client.send(
        new PutObjectCommand({
          Bucket: server.bucket,
          Key: `${b.prefix}/meta/foreign`,
          Body: Buffer.from('from elsewhere'),
        }),
      );
      expect((await b.get('meta/foreign')).toString()).toBe('from elsewhere');
    } finally {
      await b.close();
    }
  });

  it('lists across pages and skips folder markers', async (ctx) => {
    await withProxy(ctx, async (server, proxy) => {
      const b = backendOn(server, { endpoint: proxy.endpoint, listPageSize: 2 });
      try {
        for (const k of ['e', 'c', 'a', 'd', 'b']) await b.put(`packs/${k}`, Buffer.from(k));
        await b.client.send(
          new PutObjectCommand({ Bucket: server.bucket, Key: `${b.prefix}/packs/folder/`, Body: Buffer.alloc(0) }),
        );
        proxy.seen.length = 0;
        expect(await b.list('packs/')).toEqual(['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: `packs/${k}`, size: 1 })));
        const pages = proxy.seen.filter((r) => r.method === 'GET' && r.query.get('list-type') === '2');
        expect(pages).toHaveLength(3);
        expect(pages.map((p) => p.query.has('continuation-token'))).toEqual([false, true, true]);
      } finally {
        await b.close();
      }
    });
  });

  it('a missing bucket is an IO_ERROR with a hint, not an absent object', async (ctx) => {
    const server = await sharedS3Server();
    if (!server) return ctx.skip();
    const b = backendOn(server, { bucket: `no-such-${randomBytes(4).toString('hex')}` });
    try {
      const err = await b.get('meta/x').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'IO_ERROR', data: { key: 'meta/x', status: 404, code: 'NoSuchBucket' } });
      expect((err as { hint?: string }).hint).toMatch(/Create the bucket/);
      await ensureBucket(b.client, b.bucket);
      await ensureBucket(b.client, b.bucket);
      await b.put('meta/x', Buffer.from('now'));
      expect((await b.get('meta/x')).toString()).toBe('now');
    } finally {
      await b.close();
    }
  });

  it('names the remote without credentials, and refuses a part size S3 would reject', async (ctx) => {
    const server = await sharedS3Server();
    if (!server) return ctx.skip();
    const b = backendOn(server, { prefix: '/team/cairn/' });
    expect(b.url).toBe(`s3://${server.bucket}/team/cairn`);
    expect(b.url).not.toContain('S3RVER');
    await b.close();
    expect(() => backendOn(server, { partSizeBytes: MiB })).toThrow(/at least/);
  });
});
