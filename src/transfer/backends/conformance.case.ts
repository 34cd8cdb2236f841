import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RemoteBackend } from './port.js';

export interface BackendHarness {
  /** A backend over a fresh, empty remote location. */
  open(): Promise<RemoteBackend>;
  /** A second client on the SAME location as `b` (a colleague, a cluster node). */
  reopen(b: RemoteBackend): Promise<RemoteBackend>;
}

/**
 * The contract of port.ts, run against every backend (fs, S3, SFTP) with real servers.
 * `available` returning false skips the suite (the caller has printed why).
 */
export function remoteBackendConformance(
  name: string,
  harness: () => BackendHarness,
  available: () => Promise<boolean> = async () => true,
): void {
  describe(`remote backend conformance: ${name}`, () => {
    const withBackend = async (fn: (b: RemoteBackend) => Promise<void>, ctx: { skip: () => void }) => {
      if (!(await available())) return ctx.skip();
      const b = await harness().open();
      try {
        await fn(b);
      } finally {
        await b.close();
      }
    };

    it('put then get returns the same bytes; head gives the size', async (ctx) => {
      await withBackend(async (b) => {
        const body = randomBytes(100_000);
        await b.put('packs/ab/x.pack', body);
        expect((await b.get('packs/ab/x.pack')).equals(body)).toBe(true);
        expect(await b.head('packs/ab/x.pack')).toEqual({ size: 100_000 });
      }, ctx);
    });

    it('an empty object round-trips', async (ctx) => {
      await withBackend(async (b) => {
        await b.put('meta/empty', Buffer.alloc(0));
        expect((await b.get('meta/empty')).length).toBe(0);
        expect(await b.head('meta/empty')).toEqual({ size: 0 });
      }, ctx);
    });

    it('a large object (9 MiB, past any multipart threshold) round-trips byte for byte', async (ctx) => {
      await withBackend(async (b) => {
        const body = randomBytes(9 * 1024 * 1024);
        await b.put('packs/cd/big.pack', body);
        expect((await b.get('packs/cd/big.pack')).equals(body)).toBe(true);
      }, ctx);
    });

    it('ranged reads (where offered) give the bytes asked for, fewer past the end, NOT_FOUND when absent', async (ctx) => {
      await withBackend(async (b) => {
        if (!b.getRange) return;
        const body = randomBytes(70_000);
        await b.put('packs/ef/r.pack', body);
        for (const [offset, length] of [
          [0, 16],
          [12_345, 40_000],
          [69_944, 56],
          [69_990, 100],
        ] as const)
          expect(
            (await b.getRange('packs/ef/r.pack', offset, length)).equals(body.subarray(offset, offset + length)),
          ).toBe(true);
        expect((await b.getRange('packs/ef/r.pack', 80_000, 10)).length).toBe(0);
        await expect(b.getRange('nope/x', 0, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }, ctx);
    });

    it('absent keys: head is null, get is NOT_FOUND, delete succeeds', async (ctx) => {
      await withBackend(async (b) => {
        expect(await b.head('nope/x')).toBeNull();
        await expect(b.get('nope/x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await b.delete('nope/x');
      }, ctx);
    });

    it('put replaces; delete removes', async (ctx) => {
      await withBackend(async (b) => {
        await b.put('meta/state.json', Buffer.from('one'));
        await b.put('meta/state.json', Buffer.from('two!'));
        expect((await b.get('meta/state.json')).toString()).toBe('two!');
        await b.delete('meta/state.json');
        expect(await b.head('meta/state.json')).toBeNull();
      }, ctx);
    });

    it('list returns exactly the keys under a prefix, sorted, with sizes', async (ctx) => {
      await withBackend(async (b) => {
        await b.put('packs/ab/2.pack', Buffer.from('22'));
        await b.put('packs/ab/1.pack', Buffer.from('1'));
        await b.put('packs/cd/3.pack', Buffer.from('333'));
        await b.put('indexes/ab/1.idx', Buffer.from('i'));
        expect(await b.list('packs/')).toEqual([
          { key: 'packs/ab/1.pack', size: 1 },
          { key: 'packs/ab/2.pack', size: 2 },
          { key: 'packs/cd/3.pack', size: 3 },
        ]);
        expect(await b.list('packs/ab/')).toEqual([
          { key: 'packs/ab/1.pack', size: 1 },
          { key: 'packs/ab/2.pack', size: 2 },
        ]);
        expect(await b.list('nothing/')).toEqual([]);
        expect((await b.list('')).map((o) => o.key)).toEqual([
          'indexes/ab/1.idx',
          'packs/ab/1.pack',
          'packs/ab/2.pack',
          'packs/cd/3.pack',
        ]);
      }, ctx);
    });

    it('another client on the same location sees the objects', async (ctx) => {
      await withBackend(async (b) => {
        await b.put('meta/shared', Buffer.from('hello'));
        const other = await harness().reopen(b);
        try {
          expect((await other.get('meta/shared')).toString()).toBe('hello');
        } finally {
          await other.close();
        }
      }, ctx);
    });

    it('unsafe keys are refused before anything is sent', async (ctx) => {
      await withBackend(async (b) => {
        for (const k of ['../x', '/etc/passwd', 'a/../../b', 'a//b', '']) {
          await expect(b.put(k, Buffer.from('x'))).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
          await expect(b.get(k)).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
        }
      }, ctx);
    });

    it('parallel puts of different keys all land', async (ctx) => {
      await withBackend(async (b) => {
        const bodies = Array.from({ length: 16 }, (_, i) => randomBytes(1000 + i));
        await Promise.all(bodies.map((body, i) => b.put(`packs/p${i % 4}/o${i}`, body)));
        const listed = await b.list('packs/');
        expect(listed).toHaveLength(16);
        for (const [i, body] of bodies.entries())
          expect((await b.get(`packs/p${i % 4}/o${i}`)).equals(body)).toBe(true);
      }, ctx);
    });
  });
}
