import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Backend } from './s3-backend.js';
import { startLoopback } from '../../../test-support/loopback.js';

/**
 * A loopback server posing as S3 that answers every GET with more than was asked: `endless`
 * streams (chunked, no length) until the client hangs up; `huge` announces 10 GiB and sends
 * nothing; `whole` ignores the Range header and sends 1 MiB.
 */
let loopback: Awaited<ReturnType<typeof startLoopback>>;
let endpoint = '';
/** Bytes the endless answers managed to write before the client hung up. */
const streamed: number[] = [];
/** Pages of the endless listings served. */
let pages = 0;

/**
 * A ListObjectsV2 answer that is always truncated, with a fresh token each time: `keys` keys a
 * page (`packs/…`), or none.
 */
function endlessListing(res: ServerResponse, keys: number): void {
  pages++;
  const contents = Array.from(
    { length: keys },
    (_, i) => `<Contents><Key>p/packs/k${pages}-${i}</Key><Size>1</Size></Contents>`,
  ).join('');
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><KeyCount>${keys}</KeyCount>` +
      `<IsTruncated>true</IsTruncated><NextContinuationToken>t${pages}</NextContinuationToken>${contents}</ListBucketResult>`,
  );
}

function endless(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const pump = (): void => {
    while (!res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return;
    }
  };
  res.on('drain', pump);
  res.on('close', () => streamed.push(sent));
  pump();
}

beforeAll(async () => {
  loopback = await startLoopback((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('list-type') === '2')
      return endlessListing(res, url.searchParams.get('prefix') === 'p/packs/' ? 100 : 0);
    const key = decodeURIComponent(url.pathname.split('/').pop() ?? '');
    if (key === 'endless') return endless(res);
    if (key === 'huge') {
      res.writeHead(200, { 'content-length': String(10 * 1024 ** 3) });
      return res.flushHeaders();
    }
    res.writeHead(200, { 'content-length': String(1024 * 1024) });
    res.end(Buffer.alloc(1024 * 1024, 1));
  });
  endpoint = loopback.url;
});

afterAll(async () => {
  await loopback?.close();
});

function backend(): S3Backend {
  return new S3Backend({
    bucket: 'b',
    prefix: 'p',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    baseDelayMs: 1,
    attempts: 2,
  });
}

describe('S3 reads are bounded by what the caller expects', () => {
  it('an answer that never ends fails once it passes maxBytes, naming the remote and the object', async () => {
    const b = backend();
    try {
      const err = await b.get('packs/endless', { maxBytes: 256 * 1024 }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'IO_ERROR',
        data: { remote: 's3://b/p', key: 'packs/endless', maxBytes: 256 * 1024, tooLarge: true },
      });
      expect((err as Error).message).toContain('s3://b/p');
    } finally {
      await b.close();
    }
  });

  it('an announced length past the bound fails before the body is read, and is not retried', async () => {
    const b = backend();
    try {
      await expect(b.get('packs/huge', { maxBytes: 1024 })).rejects.toMatchObject({
        code: 'IO_ERROR',
        data: { tooLarge: true, announced: 10 * 1024 ** 3 },
      });
    } finally {
      await b.close();
    }
  });

  it('a range read takes at most its length, even from a store that ignores the Range', async () => {
    const b = backend();
    try {
      await expect(b.getRange('packs/whole', 0, 100)).rejects.toMatchObject({
        code: 'IO_ERROR',
        data: { key: 'packs/whole', maxBytes: 100, tooLarge: true },
      });
      await expect(b.getRange('packs/endless', 10, 4096)).rejects.toMatchObject({
        code: 'IO_ERROR',
        data: { maxBytes: 4096, tooLarge: true },
      });
    } finally {
      await b.close();
    }
  });
});

describe('S3 listings are bounded too', () => {
  it('a listing that is truncated forever stops at maxKeys, a page at a time', async () => {
    const b = backend();
    try {
      pages = 0;
      await expect(b.list('packs/', { maxKeys: 1000 })).rejects.toMatchObject({
        code: 'IO_ERROR',
        data: { remote: 's3://b/p', prefix: 'packs/', maxKeys: 1000, tooMany: true },
      });
      expect(pages).toBe(11);
    } finally {
      await b.close();
    }
  });

  it('so does one whose truncated pages hold no keys at all', async () => {
    const b = backend();
    try {
      pages = 0;
      await expect(b.list('empty/', { maxKeys: 20 })).rejects.toMatchObject({
        code: 'IO_ERROR',
        data: { maxKeys: 20, tooMany: true },
      });
      expect(pages).toBe(21);
    } finally {
      await b.close();
    }
  });
});
