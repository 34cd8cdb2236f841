import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CdcScanner, chunkBuffer, chunkMasks, DEFAULT_CHUNK_PARAMS, gearTableU32, type ChunkParams } from './index.js';

/*
 * Chunk boundaries are part of the on-disk format: if any value here changes, existing
 * repositories stop deduplicating against new writes. Do not update these numbers to make
 * the test pass; a new algorithm needs a new format version (see docs/chunking.md).
 */

const MiB = 1024 * 1024;

/** 16 MiB of AES-128-CTR keystream, key and initial counter block all zero. */
function goldenInput(): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16)).update(Buffer.alloc(16 * MiB));
}

/** SHA-256 over the end offsets, each written as an unsigned 64-bit big-endian integer. */
function cutsDigest(cuts: number[]): string {
  const buf = Buffer.alloc(8 * cuts.length);
  cuts.forEach((c, k) => buf.writeBigUInt64BE(BigInt(c), 8 * k));
  return createHash('sha256').update(buf).digest('hex');
}

describe('golden vectors (frozen format)', () => {
  const data = goldenInput();

  it('has the expected input', () => {
    expect(data.subarray(0, 16).toString('hex')).toBe('66e94bd4ef8a2c3b884cfa59ca342b2e');
    expect(createHash('sha256').update(data).digest('hex')).toBe(
      '04257f2c06bb2404d0a64584ceb92e782d5a5e281c5436876fc11ad1b4993547',
    );
  });

  it('has the expected gear table and masks', () => {
    const gear = gearTableU32();
    const be = Buffer.alloc(1024);
    gear.forEach((v, i) => be.writeUInt32BE(v, 4 * i));
    expect(createHash('sha256').update(be).digest('hex')).toBe(
      '92083d8e7da971c14c92f42d9f703fd52281c7693fd9bf98742c50ff19fcec37',
    );
    expect([gear[0], gear[1], gear[2], gear[3], gear[255]]).toEqual([
      0x05ffdea1, 0x77f1f33b, 0x41756d5b, 0xc7285caf, 0x3c1469c3,
    ]);
    expect(chunkMasks(DEFAULT_CHUNK_PARAMS)).toEqual({ strict: 0xf7bdee00, loose: 0xdadada00 });
    expect(chunkMasks({ min: 65536, avg: 262144, max: 1048576 })).toEqual({ strict: 0xfbefbe00, loose: 0xdb6db600 });
    expect(chunkMasks({ min: 2048, avg: 8192, max: 32768 })).toEqual({ strict: 0xdadada00, loose: 0xaaa55400 });
  });

  const vectors: { params: ChunkParams; count: number; digest: string; first: number[]; lastTwo: number[] }[] = [
    {
      params: DEFAULT_CHUNK_PARAMS,
      count: 118,
      digest: '9828513e88e21d79dc86c067717482954f94691e488d88f4f451f30cbf54fdba',
      first: [203497, 340470, 473322, 627599, 760689, 1059323, 1106811, 1253173, 1391014, 1530108],
      lastTwo: [16710636, 16777216],
    },
    {
      // The algorithm at larger parameters (the defaults before format v1 was released).
      params: { min: 65536, avg: 262144, max: 1048576 },
      count: 59,
      digest: '3e33777c1eca3778540780460690a7b9d3dd0f9b4a814a65ef2ab05fa16cac74',
      first: [249162, 610797, 690958, 886197, 1170040, 1438459, 1798454, 1897710, 2197551, 2500994],
      lastTwo: [16535394, 16777216],
    },
    {
      params: { min: 2048, avg: 8192, max: 32768 },
      count: 1800,
      digest: 'a1c41831424c981ce88e76c6412348a00f178e4581c6928e74f8a91d0e489438',
      first: [9809, 15874, 24255, 32761, 42614, 53170, 64733, 73117, 83648, 90805],
      lastTwo: [16769410, 16777216],
    },
  ];

  it.each(vectors)('pins the boundaries for $params', ({ params, count, digest, first, lastTwo }) => {
    const cuts = chunkBuffer(data, params);
    expect(cuts.slice(0, 10)).toEqual(first);
    expect(cuts.slice(-2)).toEqual(lastTwo);
    expect(cuts.length).toBe(count);
    expect(cutsDigest(cuts)).toBe(digest);

    // The same boundaries when streamed in odd-sized blocks.
    const scanner = new CdcScanner(params);
    const streamed: number[] = [];
    for (let off = 0; off < data.length; off += 65521)
      streamed.push(...scanner.update(data.subarray(off, off + 65521)));
    streamed.push(...scanner.finish());
    expect(cutsDigest(streamed)).toBe(digest);
  });
});
