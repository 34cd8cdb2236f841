import { randomFillSync } from 'node:crypto';

// Random bytes come from a pool refilled 4 KiB at a time: one getrandom call per 400 ids
// instead of one per id.
const POOL = Buffer.allocUnsafe(4096);
let poolPos = POOL.length;
function takeRandom(into: Buffer): void {
  if (poolPos + into.length > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  POOL.copy(into, 0, poolPos, poolPos + into.length);
  poolPos += into.length;
}

let lastMs = 0;
let seq = 0;

/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then randomness. Within one millisecond a
 * 12-bit counter in rand_a keeps ids from one process strictly increasing.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  if (nowMs <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      lastMs++;
      seq = 0;
    }
    nowMs = lastMs;
  } else {
    lastMs = nowMs;
    seq = 0;
  }
  const b = Buffer.allocUnsafe(16);
  takeRandom(b);
  b.writeUIntBE(nowMs, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
