import { describe, expect, it } from 'vitest';
import { isCairnError } from './errors.js';
import { formatDigest, isHex64, parseDigest, sha256, sha256Hex } from './digest.js';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('digests', () => {
  it('hashes with SHA-256 (FIPS 180-4 test vectors)', () => {
    expect(sha256Hex('')).toBe(EMPTY);
    expect(sha256Hex('abc')).toBe(ABC);
    expect(sha256(Buffer.from('abc')).toString('hex')).toBe(ABC);
  });

  it('formats and parses sha256:<hex>, and accepts bare hex', () => {
    expect(formatDigest(ABC)).toBe(`sha256:${ABC}`);
    expect(parseDigest(`sha256:${ABC}`)).toBe(ABC);
    expect(parseDigest(ABC)).toBe(ABC);
    expect(isHex64(ABC)).toBe(true);
  });

  it('refuses anything but 64 lowercase hex characters', () => {
    for (const bad of [
      '',
      'sha256:',
      ABC.slice(1),
      ABC + '0',
      ABC.toUpperCase(),
      `sha512:${ABC}`,
      `SHA256:${ABC}`,
      ABC.replace('a', 'g'),
    ]) {
      let err: unknown;
      try {
        parseDigest(bad);
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, 'INVALID_INPUT'), bad).toBe(true);
      expect(isHex64(bad)).toBe(false);
    }
  });
});
