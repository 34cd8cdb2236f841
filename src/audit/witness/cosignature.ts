import { sign, verify, type KeyObject } from 'node:crypto';
import { sha256 } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { decodeBase64Strict } from '../note/base64.js';
import { isValidKeyName, KEY_ID_SIZE, publicKeyFromRaw, rawPublicKey } from '../note/index.js';

/** The signed-note signature type of an Ed25519 cosignature/v1 (C2SP tlog-cosignature). */
export const COSIGNATURE_V1_TYPE = 0x04;
const ED25519_SIZE = 64;
/** timestamp (u64, big-endian) ‖ Ed25519 signature. */
const TIMESTAMPED_SIZE = 8 + ED25519_SIZE;
const SIGNATURE_PREFIX = '\u2014 ';

/** A witness's identity: its name (a schema-less URL, by convention) and Ed25519 key. */
export interface Cosigner {
  name: string;
  privateKey: KeyObject;
  rawPublicKey: Buffer;
}

/** A witness key a log or a verifier trusts. */
export interface CosignerKey {
  name: string;
  keyId: Buffer;
  publicKey: KeyObject;
  rawPublicKey: Buffer;
  vkey: string;
}

/** A cosignature that verified: who made it and the time it states (POSIX seconds). */
export interface VerifiedCosignature {
  name: string;
  keyId: string;
  time: number;
  line: string;
}

function invalid(message: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('INVALID_INPUT', message, { data });
}

/** SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]: not the log key ID, so one key cannot pass for both. */
export function cosignerKeyId(name: string, raw: Uint8Array): Buffer {
  if (!isValidKeyName(name)) throw invalid(`invalid witness name ${JSON.stringify(name)}`);
  return Buffer.from(
    sha256(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.of(0x0a, COSIGNATURE_V1_TYPE), raw])).subarray(
      0,
      KEY_ID_SIZE,
    ),
  );
}

/** `<name>+<key ID hex>+<base64(0x04 ‖ key)>`, the vkey a witness publishes. */
export function formatCosignerVkey(name: string, raw: Uint8Array): string {
  return `${name}+${cosignerKeyId(name, raw).toString('hex')}+${Buffer.concat([Buffer.of(COSIGNATURE_V1_TYPE), raw]).toString('base64')}`;
}

export function cosignerOf(name: string, privateKey: KeyObject): Cosigner {
  if (!isValidKeyName(name)) throw invalid(`invalid witness name ${JSON.stringify(name)}`);
  return { name, privateKey, rawPublicKey: rawPublicKey(privateKey) };
}

/** Parses a witness vkey, refusing a log key (type 0x01) so the two kinds are never confused. */
export function parseCosignerVkey(vkey: string): CosignerKey {
  const text = typeof vkey === 'string' ? vkey.trim() : '';
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  const bad = () =>
    invalid('malformed witness key: expected <name>+<8 hex key ID>+<base64(0x04 ‖ Ed25519 key)>', { vkey: text });
  if (second < 0) throw bad();
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const bytes = decodeBase64Strict(text.slice(second + 1));
  if (!isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(idHex) || bytes === null) throw bad();
  if (bytes.length !== 33 || bytes[0] !== COSIGNATURE_V1_TYPE) {
    throw invalid(
      bytes[0] === 0x01
        ? 'that is a log (signed-note type 0x01) key, not a witness cosignature/v1 (type 0x04) key'
        : 'the witness key is not an Ed25519 cosignature/v1 (type 0x04) key',
      { vkey: text },
    );
  }
  const raw = Buffer.from(bytes.subarray(1));
  const id = cosignerKeyId(name, raw);
  if (id.toString('hex') !== idHex) throw invalid('the witness key ID does not match its name and key', { vkey: text });
  return { name, keyId: id, publicKey: publicKeyFromRaw(raw), rawPublicKey: raw, vkey: text };
}

/** "cosignature/v1\ntime <t>\n" followed by the checkpoint body (the note text, final newline included). */
export function cosignedMessage(body: string, time: number): Buffer {
  if (!Number.isSafeInteger(time) || time < 0) throw invalid('a cosignature time is a non-negative integer', { time });
  if (!body.endsWith('\n')) throw invalid('a checkpoint body ends with a newline');
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');
}

/** One note signature line: `— <name> base64(key ID ‖ u64 time ‖ Ed25519 signature)`. */
export function cosign(body: string, cosigner: Cosigner, time: number): string {
  const sig = sign(null, cosignedMessage(body, time), cosigner.privateKey);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(time));
  const id = cosignerKeyId(cosigner.name, cosigner.rawPublicKey);
  return `${SIGNATURE_PREFIX}${cosigner.name} ${Buffer.concat([id, ts, sig]).toString('base64')}\n`;
}

/**
 * The cosignatures among `lines` (note signature lines, with or without their newline) that are
 * valid over `body` by one of `keys`, at most one per key. Lines by other keys are ignored, as
 * the spec requires; a line by a trusted key that does not verify is refused (SIGNATURE_INVALID),
 * because a witness never sends one and a log that stores one has been tampered with.
 */
export function verifyCosignatures(
  body: string,
  lines: readonly string[],
  keys: readonly CosignerKey[],
): VerifiedCosignature[] {
  const out: VerifiedCosignature[] = [];
  const seen = new Set<string>();
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (!line.startsWith(SIGNATURE_PREFIX)) continue;
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) continue;
    const name = rest.slice(0, space);
    const bytes = decodeBase64Strict(rest.slice(space + 1));
    if (bytes === null || bytes.length < KEY_ID_SIZE) continue;
    const id = bytes.subarray(0, KEY_ID_SIZE);
    const key = keys.find((k) => k.name === name && k.keyId.equals(id));
    if (!key) continue;
    const tag = `${name}+${key.keyId.toString('hex')}`;
    if (seen.has(tag)) continue;
    const tail = bytes.subarray(KEY_ID_SIZE);
    const time = tail.length === TIMESTAMPED_SIZE ? tail.readBigUInt64BE(0) : -1n;
    const ok =
      time >= 0n &&
      time <= BigInt(Number.MAX_SAFE_INTEGER) &&
      verify(null, cosignedMessage(body, Number(time)), key.publicKey, tail.subarray(8));
    if (!ok) {
      throw new CairnError('SIGNATURE_INVALID', `the cosignature by witness ${tag} does not verify`, {
        data: { witness: tag },
      });
    }
    seen.add(tag);
    out.push({ name, keyId: key.keyId.toString('hex'), time: Number(time), line });
  }
  return out;
}

/** Splits a response or a note's signature block into lines, keeping only note signature lines. */
export function signatureLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(SIGNATURE_PREFIX));
}
