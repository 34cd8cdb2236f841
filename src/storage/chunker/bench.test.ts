import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CdcScanner, chunkBuffer } from './index.js';

/*
 * Throughput check, skipped unless CAIRN_BENCH=1:
 *   CAIRN_BENCH=1 npx vitest run src/storage/chunker/bench.test.ts
 * Chunks 256 MiB of pseudo-random bytes four times (1 GiB) per shape and prints MB/s.
 */
const MiB = 1024 * 1024;

describe.skipIf(process.env.CAIRN_BENCH !== '1')('chunker throughput', () => {
  it('chunks 1 GiB', () => {
    const size = 256 * MiB;
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16)).update(Buffer.alloc(size));
    // Warm up the JIT so the numbers are for optimised code.
    chunkBuffer(data.subarray(0, 32 * MiB));

    const rate = (run: () => number): { mbps: number; chunks: number } => {
      const t0 = process.hrtime.bigint();
      let chunks = 0;
      for (let k = 0; k < 4; k++) chunks += run();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return { mbps: (4 * size) / seconds / 1e6, chunks };
    };

    const whole = rate(() => chunkBuffer(data).length);
    const blocks = rate(() => {
      const scanner = new CdcScanner();
      let n = 0;
      for (let off = 0; off < size; off += MiB) n += scanner.update(data.subarray(off, off + MiB)).length;
      return n + scanner.finish().length;
    });
    console.log(
      `chunker: whole buffer ${whole.mbps.toFixed(0)} MB/s, 1 MiB blocks ${blocks.mbps.toFixed(0)} MB/s, ` +
        `mean chunk ${((4 * size) / whole.chunks / 1024).toFixed(1)} KiB`,
    );
    expect(blocks.chunks).toBe(whole.chunks);
  });
});
