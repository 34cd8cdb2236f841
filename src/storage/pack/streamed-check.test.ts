import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../test-support/prng.js';
import { BlobKind, encodeFooter, encodeHeader, encodeIndex, type PackEntry } from './format.js';
import { packFault, streamedPackFault } from './reader.js';

/** A real pack (header, blobs, index, footer) of blobs with the given lengths, and its id. */
function buildPack(next: () => number, lengths: number[]): { bytes: Buffer; id: string } {
  const blobs = lengths.map((n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))));
  const entries: PackEntry[] = [];
  let offset = 16;
  for (const b of blobs) {
    entries.push({ id: createHash('sha256').update(b).digest('hex'), offset, length: b.length, kind: BlobKind.chunk });
    offset += b.length;
  }
  const index = encodeIndex(entries);
  const { footer, packId } = encodeFooter(offset, index);
  return { bytes: Buffer.concat([encodeHeader(), ...blobs, index, footer]), id: packId };
}

/** A ranged reader over `bytes` that records the largest read asked of it. */
function ranged(bytes: Buffer) {
  const seen = { largest: 0, reads: 0 };
  const read = async (offset: number, length: number) => {
    seen.largest = Math.max(seen.largest, length);
    seen.reads++;
    return bytes.subarray(offset, offset + length);
  };
  return { read, seen };
}

describe('streamedPackFault: a pack checked against its name in ranges', () => {
  it('passes a sound pack larger than the bound, never reading more than the bound at once', async () => {
    const next = mulberry32(11);
    // Blobs shorter and longer than the bound: grouped reads and one blob hashed in pieces.
    const { bytes, id } = buildPack(next, [100, 3000, 700, 0, 5000, 250, 1024]);
    const bound = 1024;
    expect(bytes.length).toBeGreaterThan(8 * bound);
    const { read, seen } = ranged(bytes);
    expect(await streamedPackFault(read, bytes.length, id, { sliceBytes: bound })).toBeNull();
    expect(packFault(bytes, id)).toBeNull();
    // The index (16 + 48 per blob) is read whole; every blob read stays within the bound.
    expect(seen.largest).toBeLessThanOrEqual(Math.max(bound, 16 + 48 * 7));
    expect(seen.reads).toBeGreaterThan(8);
  });

  it('gives packFault verdict, word for word, over seeded random damage (200 packs)', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = mulberry32(seed);
      const lengths = Array.from({ length: 1 + Math.floor(next() * 6) }, () => Math.floor(next() * 2500));
      const pack = buildPack(next, lengths);
      let bytes = Buffer.from(pack.bytes);
      const damage = Math.floor(next() * 5);
      if (damage === 1) {
        // One flipped byte anywhere: header, a blob, the index or the footer.
        const at = Math.floor(next() * bytes.length);
        bytes[at] = bytes[at]! ^ (1 + Math.floor(next() * 255));
      } else if (damage === 2) {
        bytes = bytes.subarray(0, Math.floor(next() * bytes.length));
      } else if (damage === 3) {
        bytes = Buffer.concat([bytes, Buffer.from([1, 2, 3])]);
      } else if (damage === 4) {
        // Garbage of the right size under the name (a poisoned upload).
        bytes = Buffer.from(Array.from({ length: bytes.length }, () => Math.floor(next() * 256)));
      }
      const { read } = ranged(bytes);
      const bound = 64 + Math.floor(next() * 2000);
      const streamed = await streamedPackFault(read, bytes.length, pack.id, { sliceBytes: bound });
      expect(streamed, `seed ${seed}`).toBe(packFault(bytes, pack.id));
      if (damage === 0) expect(streamed, `seed ${seed}`).toBeNull();
      if (damage === 4 || damage === 2) expect(streamed, `seed ${seed}`).not.toBeNull();
    }
  });

  it('names the blob whose bytes do not match, the same as packFault, when a blob past the bound is damaged', async () => {
    const next = mulberry32(5);
    const { bytes, id } = buildPack(next, [200, 9000, 300]);
    const bad = Buffer.from(bytes);
    const at = 16 + 200 + 8500;
    bad[at] = bad[at]! ^ 0xff;
    const { read } = ranged(bad);
    const fault = await streamedPackFault(read, bad.length, id, { sliceBytes: 1000 });
    expect(fault).toMatch(/^blob [0-9a-f]{64} in pack [0-9a-f]{64} does not match its digest$/);
    expect(fault).toBe(packFault(bad, id));
  });

  it('calls a store that returns fewer bytes than asked (the object shrank meanwhile) a fault, never a pass', async () => {
    const next = mulberry32(9);
    const { bytes, id } = buildPack(next, [500, 500]);
    const short = async (offset: number, length: number) => bytes.subarray(offset, offset + Math.max(0, length - 1));
    expect(await streamedPackFault(short, bytes.length, id, { sliceBytes: 256 })).toMatch(/too short/);
  });
});
