import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { mulberry32 } from '../test-support/prng.js';
import { FsBackend, type RemoteBackend } from '../transfer/index.js';
import { streamObject } from './store-object-stream.js';

let dir: string;
let fs: FsBackend;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cairn-object-stream-'));
  fs = new FsBackend(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function drain(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The folder store without its ranged reads: what a store that has none is read with. */
function wholeOnly(b: RemoteBackend): RemoteBackend {
  return { url: b.url, head: (k) => b.head(k), get: (k, o) => b.get(k, o) } as RemoteBackend;
}

describe('an object streamed from the store a slice at a time', () => {
  it('is byte-identical to the object, for any size against any slice (seeded)', async () => {
    const rnd = mulberry32(0x5eed);
    for (let i = 0; i < 24; i++) {
      const slice = 1 + Math.floor(rnd() * 4096);
      // Empty, under a slice, exactly whole slices, and ragged ends.
      const size = i === 0 ? 0 : i === 1 ? slice * 3 : Math.floor(rnd() * slice * 5);
      const bytes = randomBytes(size);
      await fs.put(`packs/${i}.pack`, bytes);
      for (const backend of [fs, wholeOnly(fs)]) {
        const o = await streamObject(backend, `packs/${i}.pack`, slice);
        expect(o.size).toBe(size);
        expect((await drain(o.body)).equals(bytes), `size ${size}, slice ${slice}`).toBe(true);
      }
    }
  });

  it('answers NOT_FOUND for an absent object, and fails (never ends short) when the object shrinks while read', async () => {
    const absent = await streamObject(fs, 'packs/none.pack').catch((e: unknown) => e);
    expect(isCairnError(absent, 'NOT_FOUND'), String(absent)).toBe(true);
    await fs.put('packs/shrinks.pack', randomBytes(10_000));
    const o = await streamObject(fs, 'packs/shrinks.pack', 1000);
    truncateSync(join(dir, 'packs', 'shrinks.pack'), 4500);
    const err = await drain(o.body).catch((e: unknown) => e);
    expect(isCairnError(err, 'IO_ERROR'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/ended packs\/shrinks.pack at 4500 bytes, short of the 10000/);
  });
});
