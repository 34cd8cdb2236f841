import {
  chmodSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  closeSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  writeSync,
  mkdirSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError, isCairnError } from '../../core/errors.js';
import { prng } from '../../test-support/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { LocalPackDir } from '../objects/local-packs.js';
import { BlobKind, FOOTER_SIZE, HEADER_SIZE } from './format.js';
import { checkPack, PackReader, readPackIndex } from './reader.js';
import { PackWriter, type FinishedPack } from './writer.js';
import { sha256Hex as sha } from '../../core/digest.js';

const MiB = 1024 * 1024;

/** Flips one bit at `pos` of a sealed (read-only) pack, the way bit rot would. */
function flipByte(path: string, pos: number): void {
  chmodSync(path, 0o644);
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, pos);
    b[0] = b[0]! ^ 0x40;
    writeSync(fd, b, 0, 1, pos);
  } finally {
    closeSync(fd);
  }
}

function patch(path: string, pos: number, bytes: Buffer): void {
  chmodSync(path, 0o644);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, pos);
  } finally {
    closeSync(fd);
  }
}

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('did not reject');
}

describe('pack files', () => {
  const tmp = useTempDirs();

  async function writePack(
    blobs: Array<{ data: Buffer; kind?: 1 | 2 }>,
  ): Promise<{ dir: LocalPackDir; pack: FinishedPack; ids: string[] }> {
    const dir = new LocalPackDir(tmp());
    await dir.ensure();
    const w = await PackWriter.create(dir);
    const ids = blobs.map((b) => {
      const id = sha(b.data);
      w.append(b.kind ?? BlobKind.chunk, id, b.data);
      return id;
    });
    return { dir, pack: await w.finish(), ids };
  }

  const small = [
    Buffer.from('hello, '),
    Buffer.from('world'),
    Buffer.from('{"entries":[],"v":1}'),
    Buffer.alloc(0),
    prng(7, 100_000),
  ];

  it('seal under the digest of their index, with nothing left in tmp', async () => {
    const { dir, pack, ids } = await writePack(
      small.map((data, i) => ({ data, kind: i === 2 ? BlobKind.tree : BlobKind.chunk })),
    );
    expect(pack.path).toBe(dir.packPath(pack.id));
    expect(existsSync(pack.path)).toBe(true);
    expect(readdirSync(dir.tmpDir)).toEqual([]);
    expect(statSync(pack.path).size).toBe(pack.size);
    expect(await dir.list()).toEqual(new Map([[pack.id, pack.size]]));
    const bytes = readFileSync(pack.path);
    expect(bytes.subarray(0, 8).toString()).toBe('CAIRNPAK');
    expect(bytes.subarray(bytes.length - 8).toString()).toBe('CAIRNEND');
    const indexOffset = Number(bytes.readBigUInt64BE(bytes.length - FOOTER_SIZE));
    const indexLength = bytes.readUInt32BE(bytes.length - FOOTER_SIZE + 8);
    expect(sha(bytes.subarray(indexOffset, indexOffset + indexLength))).toBe(pack.id);
    // Blobs sit back to back right after the header, in append order.
    let offset = HEADER_SIZE;
    expect(pack.entries).toEqual(
      small.map((data, i) => {
        const e = { id: ids[i], offset, length: data.length, kind: i === 2 ? 2 : 1 };
        offset += data.length;
        return e;
      }),
    );
  });

  it('read back: the index matches what was written and every blob round-trips', async () => {
    const { dir, pack, ids } = await writePack(small.map((data) => ({ data })));
    expect(await readPackIndex(pack.path, pack.id)).toEqual({ entries: pack.entries, size: pack.size });
    const reader = new PackReader(dir);
    try {
      for (const [i, e] of pack.entries.entries()) {
        expect(
          (await reader.read({ id: e.id, packId: pack.id, offset: e.offset, length: e.length })).equals(small[i]!),
        ).toBe(true);
      }
    } finally {
      await reader.close();
    }
    const check = await checkPack(pack.path, pack.id);
    expect(check).toEqual({ packId: pack.id, error: null, entries: pack.entries, badBlobs: [], bytes: pack.size });
    expect(ids).toHaveLength(small.length);
  });

  it('a flipped byte inside one blob is reported for exactly that blob', async () => {
    const { dir, pack } = await writePack(small.map((data) => ({ data })));
    const victim = pack.entries[1]!;
    flipByte(pack.path, victim.offset + 2);
    const check = await checkPack(pack.path, pack.id);
    expect(check.error).toBeNull();
    expect(check.badBlobs).toEqual([victim.id]);
    const reader = new PackReader(dir);
    try {
      const err = await rejection(
        reader.read({ id: victim.id, packId: pack.id, offset: victim.offset, length: victim.length }),
      );
      expect(err.code).toBe('CORRUPT_OBJECT');
      expect(err.message).toContain(victim.id);
      expect(err.data).toMatchObject({ blob: victim.id, pack: pack.id });
      // Its neighbours are intact and still readable.
      const next = pack.entries[2]!;
      expect(
        (await reader.read({ id: next.id, packId: pack.id, offset: next.offset, length: next.length })).equals(
          small[2]!,
        ),
      ).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('checkPack groups reads across 16 MiB slices and still pins the one bad blob', async () => {
    // 3 × 5 MiB fit one slice, a 17 MiB blob needs its own, then two small ones.
    const blobs = [
      prng(1, 5 * MiB),
      prng(2, 5 * MiB),
      prng(3, 5 * MiB),
      prng(4, 17 * MiB),
      prng(5, 1000),
      prng(6, 3 * MiB),
    ];
    const { pack } = await writePack(blobs.map((data) => ({ data })));
    const seen: number[] = [];
    expect((await checkPack(pack.path, pack.id, (n) => seen.push(n))).badBlobs).toEqual([]);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(blobs.reduce((n, b) => n + b.length, 0));
    expect(seen.length).toBeGreaterThan(1);
    for (const victim of [pack.entries[3]!, pack.entries[5]!]) {
      flipByte(pack.path, victim.offset + victim.length - 1);
    }
    expect((await checkPack(pack.path, pack.id)).badBlobs).toEqual([pack.entries[3]!.id, pack.entries[5]!.id]);
  });

  it('damage to the header, footer or index makes the whole pack unreadable as CORRUPT_OBJECT', async () => {
    const cases: Array<[string, (p: FinishedPack) => void, string]> = [
      ['header magic', (p) => flipByte(p.path, 0), 'bad header magic'],
      ['end magic', (p) => flipByte(p.path, p.size - 1), 'bad footer magic'],
      ['footer digest', (p) => flipByte(p.path, p.size - 20), 'index digest does not match the footer'],
      ['index entry', (p) => flipByte(p.path, p.size - FOOTER_SIZE - 10), 'index digest does not match'],
      [
        'truncation',
        (p) => {
          chmodSync(p.path, 0o644);
          truncateSync(p.path, p.size - 1);
        },
        'corrupt',
      ],
      [
        'too short',
        (p) => {
          chmodSync(p.path, 0o644);
          truncateSync(p.path, 20);
        },
        'too short',
      ],
    ];
    for (const [what, damage, why] of cases) {
      const { pack } = await writePack(small.map((data) => ({ data })));
      damage(pack);
      const err = await rejection(readPackIndex(pack.path, pack.id));
      expect(err.code, what).toBe('CORRUPT_OBJECT');
      expect(err.message, what).toContain(why);
      const check = await checkPack(pack.path, pack.id);
      expect(check.error?.code, what).toBe('CORRUPT_OBJECT');
      expect(check.entries, what).toEqual([]);
      expect(check.badBlobs, what).toEqual([]);
    }
  });

  it('a pack from a newer format version is UNSUPPORTED, not corrupt', async () => {
    const { pack } = await writePack(small.map((data) => ({ data })));
    const v = Buffer.alloc(4);
    v.writeUInt32BE(2);
    patch(pack.path, 8, v);
    expect((await rejection(readPackIndex(pack.path, pack.id))).code).toBe('UNSUPPORTED');
    expect((await checkPack(pack.path, pack.id)).error?.code).toBe('UNSUPPORTED');
  });

  it('a pack stored under another name fails the name check', async () => {
    const { dir, pack } = await writePack(small.map((data) => ({ data })));
    const wrong = sha('not this pack');
    const wrongPath = dir.packPath(wrong);
    mkdirSync(dirname(wrongPath), { recursive: true });
    renameSync(pack.path, wrongPath);
    const err = await rejection(readPackIndex(wrongPath, wrong));
    expect(err.code).toBe('CORRUPT_OBJECT');
    expect(err.message).toContain('index digest does not match the pack name');
  });

  it('a missing pack is MISSING_OBJECT for the index reader, checkPack and PackReader', async () => {
    const dir = new LocalPackDir(tmp());
    const id = sha('gone');
    expect((await rejection(readPackIndex(dir.packPath(id), id))).code).toBe('MISSING_OBJECT');
    expect((await checkPack(dir.packPath(id), id)).error?.code).toBe('MISSING_OBJECT');
    const reader = new PackReader(dir);
    const err = await rejection(reader.read({ id: sha('x'), packId: id, offset: 16, length: 1 }));
    expect(err.code).toBe('MISSING_OBJECT');
    expect(err.data).toEqual({ pack: id });
    await reader.close();
  });

  it('PackReader refuses a location that runs past the end of the file', async () => {
    const { dir, pack } = await writePack([{ data: Buffer.from('abc') }]);
    const reader = new PackReader(dir);
    try {
      const err = await rejection(reader.read({ id: sha('abc'), packId: pack.id, offset: pack.size - 2, length: 3 }));
      expect(err.code).toBe('CORRUPT_OBJECT');
      expect(err.message).toContain('truncated');
      // A wrong offset inside the file reads other bytes, which fail the digest check.
      const wrong = await rejection(
        reader.read({ id: sha('abc'), packId: pack.id, offset: HEADER_SIZE + 1, length: 2 }),
      );
      expect(isCairnError(wrong, 'CORRUPT_OBJECT')).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('an aborted writer leaves no file behind', async () => {
    const dir = new LocalPackDir(tmp());
    await dir.ensure();
    const w = await PackWriter.create(dir);
    w.append(BlobKind.chunk, sha('x'), Buffer.from('x'));
    await w.drain();
    expect(readdirSync(dir.tmpDir)).toHaveLength(1);
    await w.abort();
    expect(readdirSync(dir.tmpDir)).toEqual([]);
    expect(await dir.list()).toEqual(new Map());
  });
});
