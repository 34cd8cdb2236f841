// SECRET_IN_INPUT refuses a write whose fields hold a credential's shape. Honest fields are full of
// digests — a dataset description citing the source's hash, an image digest in a run spec, an npm
// integrity string, an IPFS or Nix path — and a refusal there blocks honest work. Seeded random
// digests in every common encoding, alone and inside descriptive text: none may look like a
// credential. (Held on 2026-12-05: of 1.4 million samples only a 20-character upper-case hex id
// starting ACCA matched, as an AWS key id; 20-character upper-case hex ids are not sampled here.)
import { describe, expect, it } from 'vitest';
import { secretKind } from '../../src/server/secret-shapes.js';
import { mulberry32 } from '../../src/test-support/prng.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base32(b: Buffer): string {
  let bits = 0;
  let v = 0;
  let out = '';
  for (const x of b) {
    v = ((v << 8) | x) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(v >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

function base58(b: Buffer): string {
  let n = BigInt(`0x${b.toString('hex')}`);
  let out = '';
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out;
    n /= 58n;
  }
  return out;
}

describe('attack: digests in honest fields are not taken for credentials', () => {
  it('passes seeded random digests in hex, base64, base64url, base32 and base58, alone and in text', () => {
    const rnd = mulberry32(0xd16e57);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    const forms: Array<() => string> = [
      () => `sha256:${bytes(32).toString('hex')}`,
      () => bytes(20).toString('hex'),
      () => bytes(32).toString('hex').toUpperCase(),
      () => `sha512-${bytes(64).toString('base64')}`,
      () => `sha256-${bytes(32).toString('base64')}`,
      () => bytes(32).toString('base64url'),
      () => bytes(48).toString('base64url'),
      () => base32(bytes(20)),
      () => base32(bytes(32)).toLowerCase(),
      () => `Qm${base58(bytes(32))}`,
      () => `ghcr.io/acme/train@sha256:${bytes(32).toString('hex')}`,
    ];
    for (let i = 0; i < 1000; i++)
      for (const form of forms) {
        const digest = form();
        for (const text of [digest, `built from ${digest} (the source's digest)`, `"${digest}"`])
          expect(secretKind(text), text).toBeNull();
      }
  });
});
