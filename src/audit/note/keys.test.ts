import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { sha256 } from '../../core/digest.js';
import { isCairnError } from '../../core/errors.js';
import {
  formatSignerKey,
  formatVerifierKey,
  generateSigningKeyPair,
  isValidKeyName,
  keyId,
  parseSignerKey,
  parseVerifierKey,
  privateKeyFromPem,
  privateKeyFromSeed,
  privateKeySeed,
  privateKeyToPem,
  publicKeyFromPem,
  publicKeyFromRaw,
  publicKeyToPem,
  rawPublicKey,
  verifierFromPublicKey,
} from './keys.js';

// golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestVerifierList).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

describe('verifier keys', () => {
  test('parses the Go vectors and formats them back byte for byte', () => {
    for (const vkey of [PETER_VKEY, ENOCH_VKEY]) {
      const parsed = parseVerifierKey(vkey);
      expect(formatVerifierKey(parsed.name, parsed.rawPublicKey)).toBe(vkey);
      expect(rawPublicKey(parsed.publicKey)).toEqual(parsed.rawPublicKey);
    }
    const peter = parseVerifierKey(PETER_VKEY);
    expect(peter.name).toBe('PeterNeumann');
    expect(peter.keyId.toString('hex')).toBe('c74f20a3');
    expect(peter.rawPublicKey).toEqual(
      Buffer.from('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'base64').subarray(1),
    );
  });

  test('the key ID is SHA-256(name ‖ "\\n" ‖ 0x01 ‖ key)[:4]', () => {
    const { rawPublicKey: raw } = parseVerifierKey(PETER_VKEY);
    const expected = sha256(Buffer.concat([Buffer.from('PeterNeumann\n'), Buffer.of(1), raw])).subarray(0, 4);
    expect(keyId('PeterNeumann', raw)).toEqual(expected);
  });

  test('every substring and every single-byte change of the Go key is rejected (as in TestNewVerifier)', () => {
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        expect(
          codeOf(() => parseVerifierKey(PETER_VKEY.slice(i, j))),
          PETER_VKEY.slice(i, j),
        ).toBe('INVALID_INPUT');
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const mangled =
        PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      expect(
        codeOf(() => parseVerifierKey(mangled)),
        mangled,
      ).toBe('INVALID_INPUT');
    }
  });

  test("rejects the Go test's wrong-length key and unknown algorithm (each with a matching key hash)", () => {
    expect(
      codeOf(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')),
    ).toBe('INVALID_INPUT');
    expect(codeOf(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe(
      'INVALID_INPUT',
    );
  });

  test('rejects upper-case key IDs, non-canonical base64, bad names', () => {
    expect(codeOf(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe(
      'INVALID_INPUT',
    );
    expect(codeOf(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe(
      'INVALID_INPUT',
    );
    expect(codeOf(() => parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n'))).toBe(
      'INVALID_INPUT',
    );
    const raw = rawPublicKey(generateSigningKeyPair().publicKey);
    expect(codeOf(() => formatVerifierKey('a+b', raw))).toBe('INVALID_INPUT');
    expect(codeOf(() => formatVerifierKey('ok', raw.subarray(1)))).toBe('INVALID_INPUT');
  });
});

describe('signer keys', () => {
  test('the Go signer key yields the Go verifier key and formats back byte for byte', () => {
    const signer = parseSignerKey(PETER_SKEY);
    expect(signer.name).toBe('PeterNeumann');
    expect(formatVerifierKey(signer.name, signer.rawPublicKey)).toBe(PETER_VKEY);
    expect(formatSignerKey(signer.name, signer.privateKey)).toBe(PETER_SKEY);
  });

  test('every substring and every single-byte change of the Go signer key is rejected (as in TestNewSigner)', () => {
    for (let i = 0; i <= PETER_SKEY.length; i++) {
      for (let j = i + 1; j <= PETER_SKEY.length; j++) {
        if (i === 0 && j === PETER_SKEY.length) continue;
        expect(
          codeOf(() => parseSignerKey(PETER_SKEY.slice(i, j))),
          PETER_SKEY.slice(i, j),
        ).toBe('INVALID_INPUT');
      }
    }
    for (let i = 0; i < PETER_SKEY.length; i++) {
      const mangled =
        PETER_SKEY.slice(0, i) + String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) + PETER_SKEY.slice(i + 1);
      expect(
        codeOf(() => parseSignerKey(mangled)),
        mangled,
      ).toBe('INVALID_INPUT');
    }
  });
});

describe('key names', () => {
  test.each(['example.com/log', 'PeterNeumann', 'ünïcødé/ß', 'a-b_c.d:e', '\u2014'])('accepts %j', (name) => {
    expect(isValidKeyName(name)).toBe(true);
  });
  test.each(['', 'a b', 'a+b', 'a\tb', 'a\nb', 'a\u00a0b', 'a\u0085b', 'a\u2003b', 'a\u3000b', 'a\u0001b', 'a\ud800b'])(
    'rejects %j',
    (name) => {
      expect(isValidKeyName(name)).toBe(false);
    },
  );
});

describe('Ed25519 key handling', () => {
  test('raw, seed and PEM forms round-trip and stay usable', () => {
    const { privateKey, publicKey } = generateSigningKeyPair();
    const raw = rawPublicKey(publicKey);
    expect(raw).toHaveLength(32);
    expect(rawPublicKey(privateKey)).toEqual(raw);
    expect(rawPublicKey(publicKeyFromRaw(raw))).toEqual(raw);

    const message = Buffer.from('checkpoint\n');
    const restoredPrivate = privateKeyFromPem(privateKeyToPem(privateKey));
    const restoredPublic = publicKeyFromPem(publicKeyToPem(publicKey));
    expect(verify(null, message, restoredPublic, sign(null, message, restoredPrivate))).toBe(true);
    expect(rawPublicKey(restoredPublic)).toEqual(raw);
    expect(privateKeyToPem(privateKey)).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(publicKeyToPem(publicKey)).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);

    const seeded = privateKeyFromSeed(privateKeySeed(privateKey));
    expect(rawPublicKey(seeded)).toEqual(raw);
    expect(verifierFromPublicKey('me', publicKey).keyId).toEqual(keyId('me', raw));
  });

  test('refuses keys of other types and garbage, with INVALID_INPUT', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateSigningKeyPair();
    expect(codeOf(() => rawPublicKey(ec.publicKey))).toBe('INVALID_INPUT');
    expect(codeOf(() => privateKeyToPem(ed.publicKey))).toBe('INVALID_INPUT');
    expect(codeOf(() => publicKeyToPem(ed.privateKey))).toBe('INVALID_INPUT');
    expect(codeOf(() => privateKeyFromPem(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()))).toBe(
      'INVALID_INPUT',
    );
    expect(codeOf(() => publicKeyFromPem(ec.publicKey.export({ type: 'spki', format: 'pem' }).toString()))).toBe(
      'INVALID_INPUT',
    );
    expect(codeOf(() => privateKeyFromPem('not a pem'))).toBe('INVALID_INPUT');
    expect(codeOf(() => publicKeyFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'))).toBe(
      'INVALID_INPUT',
    );
    // A private key where a public one is expected must not be silently accepted.
    expect(codeOf(() => publicKeyFromPem(privateKeyToPem(ed.privateKey)))).toBe('INVALID_INPUT');
    expect(codeOf(() => publicKeyFromRaw(Buffer.alloc(31)))).toBe('INVALID_INPUT');
    expect(codeOf(() => privateKeyFromSeed(Buffer.alloc(33)))).toBe('INVALID_INPUT');
  });
});
