import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { sha256 } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { decodeBase64Strict } from './base64.js';

/** The signed-note signature type byte for Ed25519. */
export const ED25519_SIGNATURE_TYPE = 0x01;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const KEY_ID_SIZE = 4;

/**
 * What signs a note: the key name that goes on the signature line and the Ed25519 key pair —
 * either the private key itself, or `sign`, which asks a device that keeps it (a PKCS #11
 * token) and never hands it out.
 */
export type NoteSigner = KeyNoteSigner | DeviceNoteSigner;

export interface KeyNoteSigner {
  name: string;
  rawPublicKey: Buffer;
  privateKey: KeyObject;
  sign?: undefined;
}

export interface DeviceNoteSigner {
  name: string;
  rawPublicKey: Buffer;
  privateKey?: undefined;
  sign: (message: Buffer) => Buffer;
}

/** A trusted key: signature lines are matched to it by name and key ID, then checked with the key. */
export interface NoteVerifier {
  name: string;
  keyId: Buffer;
  publicKey: KeyObject;
}

// DER of a PKCS #8 Ed25519 private key up to the 32-byte seed (RFC 8410 §7).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

// Go's unicode.IsSpace, which is what the reference implementation (golang.org/x/mod/sumdb/note) uses
// to decide that a name contains a "Unicode space". JavaScript's \s differs (it adds U+FEFF, lacks U+0085).
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this must find
const CONTROL = /[\u0000-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function invalid(message: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('INVALID_INPUT', message, { data });
}

/** Signed-note key names: non-empty, valid UTF-8, no Unicode spaces and no '+'. */
export function isValidKeyName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !name.includes('+') &&
    !UNICODE_SPACE.test(name) &&
    !CONTROL.test(name) &&
    !LONE_SURROGATE.test(name)
  );
}

export function checkKeyName(name: unknown): string {
  if (!isValidKeyName(name)) {
    throw invalid(`invalid signing key name ${JSON.stringify(name)}`, { name: typeof name === 'string' ? name : null });
  }
  return name;
}

function checkEd25519(key: unknown, type: 'public' | 'private'): KeyObject {
  const k = key as KeyObject | null;
  if (
    typeof k !== 'object' ||
    k === null ||
    typeof k.export !== 'function' ||
    k.type !== type ||
    k.asymmetricKeyType !== 'ed25519'
  ) {
    throw invalid(`expected an Ed25519 ${type} key`, {
      type: k?.type ?? null,
      algorithm: k?.asymmetricKeyType ?? null,
    });
  }
  return k;
}

export function generateSigningKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** The 32-byte RFC 8032 encoding of an Ed25519 public key (a private key gives its public half). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key?.type === 'private' ? createPublicKey(checkEd25519(key, 'private')) : checkEd25519(key, 'public');
  const x = pub.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw invalid('cannot export the Ed25519 public key');
  return Buffer.from(x, 'base64url');
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.length !== ED25519_PUBLIC_KEY_SIZE) {
    throw invalid('an Ed25519 public key is 32 bytes', { length: raw instanceof Uint8Array ? raw.length : null });
  }
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
      format: 'jwk',
    });
  } catch (err) {
    throw new CairnError('INVALID_INPUT', 'not an Ed25519 public key', { cause: err });
  }
}

/** The private key whose RFC 8032 seed is these 32 bytes (the form Go's note package stores). */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw invalid('an Ed25519 seed is 32 bytes', { length: seed instanceof Uint8Array ? seed.length : null });
  }
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function privateKeySeed(privateKey: KeyObject): Buffer {
  const d = checkEd25519(privateKey, 'private').export({ format: 'jwk' }).d;
  if (typeof d !== 'string') throw invalid('cannot export the Ed25519 private key');
  return Buffer.from(d, 'base64url');
}

export function privateKeyToPem(privateKey: KeyObject): string {
  return checkEd25519(privateKey, 'private').export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function publicKeyToPem(publicKey: KeyObject): string {
  return checkEd25519(publicKey, 'public').export({ type: 'spki', format: 'pem' }).toString();
}

export function privateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CairnError('INVALID_INPUT', 'not a PEM private key', { cause: err });
  }
  return checkEd25519(key, 'private');
}

export function publicKeyFromPem(pem: string): KeyObject {
  // createPublicKey happily derives a public key from a private PEM; a file meant to be public must not
  // hold the private key, so refuse rather than accept it silently.
  if (typeof pem !== 'string' || /PRIVATE KEY-----/.test(pem)) throw invalid('expected a public key PEM');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CairnError('INVALID_INPUT', 'not a PEM public key', { cause: err });
  }
  return checkEd25519(key, 'public');
}

/** SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[:4], the signed-note key ID for an Ed25519 key. */
export function keyId(name: string, rawPub: Uint8Array): Buffer {
  checkKeyName(name);
  if (!(rawPub instanceof Uint8Array) || rawPub.length !== ED25519_PUBLIC_KEY_SIZE) {
    throw invalid('an Ed25519 public key is 32 bytes');
  }
  const digest = sha256(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.of(0x0a, ED25519_SIGNATURE_TYPE), rawPub]));
  return Buffer.from(digest.subarray(0, KEY_ID_SIZE));
}

/** `<name>+<8 hex key ID>+<base64(0x01 ‖ public key)>`, the verifier key format of Go's note package. */
export function formatVerifierKey(name: string, rawPub: Uint8Array): string {
  const id = keyId(name, rawPub);
  return `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.of(ED25519_SIGNATURE_TYPE), rawPub]).toString('base64')}`;
}

export interface ParsedVerifierKey extends NoteVerifier {
  rawPublicKey: Buffer;
}

const KEY_ID_HEX = /^[0-9a-f]{8}$/;

// Base64 may itself contain '+', so only the first two '+' separate fields.
function splitKeyFields(text: string): [string, string, string] | null {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  return second < 0 ? null : [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
}

/** Parses a verifier key, checking the key ID against the name and key it claims to identify. */
export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  if (typeof vkey !== 'string') throw invalid('a verifier key is a string');
  const fields = splitKeyFields(vkey);
  const encoded = fields === null ? null : decodeBase64Strict(fields[2]);
  if (
    fields === null ||
    encoded === null ||
    encoded.length === 0 ||
    !isValidKeyName(fields[0]) ||
    !KEY_ID_HEX.test(fields[1])
  ) {
    throw invalid('malformed verifier key: expected <name>+<8 hex key ID>+<base64 key>', { vkey });
  }
  const [name, idHex] = fields;
  if (encoded[0] !== ED25519_SIGNATURE_TYPE || encoded.length !== 1 + ED25519_PUBLIC_KEY_SIZE) {
    throw invalid('the verifier key is not an Ed25519 (type 0x01) key', { vkey });
  }
  const raw = Buffer.from(encoded.subarray(1));
  const id = keyId(name, raw);
  if (id.toString('hex') !== idHex) throw invalid('the verifier key ID does not match its name and key', { vkey });
  return { name, keyId: id, publicKey: publicKeyFromRaw(raw), rawPublicKey: raw };
}

/** `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 ‖ seed)>`, Go's note signer key format. Secret. */
export function formatSignerKey(name: string, privateKey: KeyObject): string {
  const raw = rawPublicKey(privateKey);
  const id = keyId(name, raw);
  return `PRIVATE+KEY+${name}+${id.toString('hex')}+${Buffer.concat([Buffer.of(ED25519_SIGNATURE_TYPE), privateKeySeed(privateKey)]).toString('base64')}`;
}

export function parseSignerKey(skey: string): KeyNoteSigner {
  const prefix = 'PRIVATE+KEY+';
  if (typeof skey !== 'string' || !skey.startsWith(prefix)) throw invalid('a signer key starts with PRIVATE+KEY+');
  const fields = splitKeyFields(skey.slice(prefix.length));
  const encoded = fields === null ? null : decodeBase64Strict(fields[2]);
  // The key itself never goes into error data.
  if (fields === null || encoded === null || !isValidKeyName(fields[0]) || !KEY_ID_HEX.test(fields[1])) {
    throw invalid('malformed signer key');
  }
  const [name, idHex] = fields;
  if (encoded[0] !== ED25519_SIGNATURE_TYPE || encoded.length !== 33)
    throw invalid('the signer key is not an Ed25519 (type 0x01) key');
  const privateKey = privateKeyFromSeed(encoded.subarray(1));
  const raw = rawPublicKey(privateKey);
  if (keyId(name, raw).toString('hex') !== idHex) throw invalid('the signer key ID does not match its name and key');
  return { name, privateKey, rawPublicKey: raw };
}

export function signerFromPrivateKey(name: string, privateKey: KeyObject): KeyNoteSigner {
  return {
    name: checkKeyName(name),
    privateKey: checkEd25519(privateKey, 'private'),
    rawPublicKey: rawPublicKey(privateKey),
  };
}

export function verifierFromPublicKey(name: string, publicKey: KeyObject): NoteVerifier {
  return {
    name: checkKeyName(name),
    keyId: keyId(name, rawPublicKey(publicKey)),
    publicKey: checkEd25519(publicKey, 'public'),
  };
}
