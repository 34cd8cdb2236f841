import { createHash } from 'node:crypto';
import { CairnError } from './errors.js';

/** Digests are always SHA-256, written `sha256:<64 lowercase hex>` outside the storage internals. */
export const DIGEST_PREFIX = 'sha256:';
const HEX64 = /^[0-9a-f]{64}$/;

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function formatDigest(hex: string): string {
  return DIGEST_PREFIX + hex;
}

export function isHex64(s: string): boolean {
  return HEX64.test(s);
}

/** Accepts `sha256:<hex>` or bare hex and returns the bare hex. */
export function parseDigest(s: string): string {
  const hex = s.startsWith(DIGEST_PREFIX) ? s.slice(DIGEST_PREFIX.length) : s;
  if (!HEX64.test(hex)) {
    throw new CairnError('INVALID_INPUT', `not a SHA-256 digest: ${JSON.stringify(s)}`, {
      hint: 'a digest is written sha256: followed by 64 lowercase hex characters',
    });
  }
  return hex;
}
