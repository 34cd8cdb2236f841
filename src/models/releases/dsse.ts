import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { rawPublicKey } from '../../audit/note/index.js';

/**
 * DSSE (Dead Simple Signing Envelope, https://github.com/secure-systems-lab/dsse, v1.0) with
 * Ed25519. The signature covers PAE(payloadType, payload), never the JSON envelope, so the
 * envelope may be re-serialized freely.
 */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

/**
 * Pre-Authentication Encoding, DSSE protocol v1:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where LEN is the byte length in ASCII
 * decimal without leading zeros and type is UTF-8.
 */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    payload,
  ]);
}

/**
 * The keyid Cairn writes: `sha256:` + hex SHA-256 of the key's DER SubjectPublicKeyInfo, i.e.
 * `openssl pkey -pubin -in public-key.pem -outform DER | openssl dgst -sha256`. DSSE treats
 * keyids as unauthenticated hints; verification never trusts them.
 */
export function keyIdOf(publicKey: KeyObject): string {
  rawPublicKey(publicKey); // refuses anything but an Ed25519 key
  const pub = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  return `sha256:${sha256Hex(pub.export({ type: 'spki', format: 'der' }))}`;
}

/**
 * A key that some device keeps (a PKCS #11 token): its public half and a function that asks the
 * device to sign. Whatever it returns is verified against `publicKey` before it is used.
 */
export interface DeviceSigner {
  publicKey: KeyObject;
  sign(message: Buffer): Buffer;
}

/** A private key, or a device that keeps one. */
export type SigningKey = KeyObject | DeviceSigner;

export function isDeviceSigner(key: SigningKey): key is DeviceSigner {
  return typeof (key as DeviceSigner)?.sign === 'function' && (key as DeviceSigner).publicKey !== undefined;
}

/** The public half of a signing key. */
export function publicKeyOf(key: SigningKey): KeyObject {
  return isDeviceSigner(key) ? key.publicKey : createPublicKey(key);
}

/** Signs `message` with `key` (`algorithm` as for crypto.sign), checking a device's answer. */
export function signWith(algorithm: string | null, message: Buffer, key: SigningKey): Buffer {
  if (!isDeviceSigner(key)) return sign(algorithm, message, key);
  const sig = key.sign(message);
  if (!verify(algorithm, message, key.publicKey, sig))
    throw new CairnError(
      'SIGNATURE_INVALID',
      'the signing device answered with a signature its public key does not verify',
    );
  return sig;
}

/** Signs `payload` as `payloadType` with an Ed25519 private key (or a device that keeps one). */
export function signEnvelope(payloadType: string, payload: Uint8Array, privateKey: SigningKey): DsseEnvelope {
  if (!isDeviceSigner(privateKey) && privateKey?.type !== 'private')
    throw new CairnError('INVALID_INPUT', 'DSSE signing needs an Ed25519 private key');
  const pub = publicKeyOf(privateKey);
  rawPublicKey(pub);
  const sig = signWith(null, pae(payloadType, payload), privateKey);
  return {
    payload: Buffer.from(payload).toString('base64'),
    payloadType,
    signatures: [{ keyid: keyIdOf(pub), sig: sig.toString('base64') }],
  };
}

/** The envelope as written to disk: pretty JSON and a final newline (the bytes are not signed). */
export function serializeEnvelope(env: DsseEnvelope): string {
  return `${JSON.stringify({ payloadType: env.payloadType, payload: env.payload, signatures: env.signatures }, null, 2)}\n`;
}

// DSSE allows standard or URL-safe base64; both are accepted, padded or not, nothing else.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeBase64(text: string): Buffer | null {
  if (!BASE64.test(text) || (/[+/]/.test(text) && /[-_]/.test(text))) return null;
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  // Round-trip without padding so that junk or non-zero trailing bits are refused.
  const again = bytes.toString('base64').replace(/=+$/, '');
  return again === text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '') ? bytes : null;
}

/** Parses an envelope's JSON; throws INVALID_INPUT when it is not one. */
export function parseEnvelope(text: string): DsseEnvelope {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CairnError('INVALID_INPUT', 'the DSSE envelope is not JSON');
  }
  const e = doc as Partial<DsseEnvelope> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.payload !== 'string' ||
    typeof e.payloadType !== 'string' ||
    !Array.isArray(e.signatures)
  ) {
    throw new CairnError('INVALID_INPUT', 'the DSSE envelope needs payload, payloadType and signatures');
  }
  for (const s of e.signatures as unknown[]) {
    const x = s as Partial<DsseSignature> | null;
    if (
      typeof x !== 'object' ||
      x === null ||
      typeof x.sig !== 'string' ||
      (x.keyid !== undefined && typeof x.keyid !== 'string')
    ) {
      throw new CairnError('INVALID_INPUT', 'every DSSE signature needs a base64 sig (and may have a keyid string)');
    }
  }
  return {
    payload: e.payload,
    payloadType: e.payloadType,
    signatures: e.signatures.map((s) => ({ keyid: s.keyid ?? '', sig: s.sig })),
  };
}

export type EnvelopeCheck =
  { ok: true; payload: Buffer; payloadType: string; keyid: string } | { ok: false; reason: string };

/**
 * Verifies per the DSSE protocol: decode the payload, rebuild PAE, accept when any signature
 * verifies with `publicKey` (keyids are hints and ignored). `expectedType` guards against a
 * valid signature over some other kind of payload.
 */
export function verifyEnvelope(env: DsseEnvelope, publicKey: KeyObject, expectedType: string): EnvelopeCheck {
  rawPublicKey(publicKey);
  if (env.payloadType !== expectedType)
    return { ok: false, reason: `payloadType is ${JSON.stringify(env.payloadType)}, expected ${expectedType}` };
  const payload = decodeBase64(env.payload);
  if (payload === null) return { ok: false, reason: 'the payload is not base64' };
  if (env.signatures.length === 0) return { ok: false, reason: 'the envelope has no signatures' };
  const message = pae(env.payloadType, payload);
  for (const s of env.signatures) {
    const sig = decodeBase64(s.sig);
    if (sig === null || sig.length !== 64) continue;
    if (verify(null, message, publicKey, sig))
      return { ok: true, payload, payloadType: env.payloadType, keyid: s.keyid };
  }
  return { ok: false, reason: `no signature verifies with key ${keyIdOf(publicKey)}` };
}
