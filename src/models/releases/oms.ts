import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CairnError } from '../../core/errors.js';
import { IN_TOTO_PAYLOAD_TYPE, isDeviceSigner, pae, signWith, type DeviceSigner } from './dsse.js';

/**
 * OpenSSF Model Signing (OMS) v1.0, the format of sigstore/model-transparency's `model_signing`
 * with a bare key: a Sigstore bundle v0.3 (JSON) around a DSSE envelope whose payload is an
 * in-toto Statement v1 with predicate type `https://model_signing/signature/v1.0`. Written so
 * that `model_signing verify key <model dir> --signature model.sig --public_key <pem>` accepts
 * it; that verifier supports ECDSA keys (P-256, P-384, P-521) only, so the OMS key is P-256.
 */
export const OMS_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';
export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

/** The serialization a verifier re-applies to the model folder: every file, whole, SHA-256. */
export const OMS_SERIALIZATION = { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: [] };

export interface OmsResource {
  name: string;
  algorithm: 'sha256';
  digest: string;
}

export interface OmsStatement {
  _type: typeof STATEMENT_V1;
  subject: [{ name: string; digest: { sha256: string } }];
  predicateType: typeof OMS_PREDICATE_TYPE;
  predicate: { serialization: typeof OMS_SERIALIZATION; resources: OmsResource[] };
}

export interface OmsBundle {
  mediaType: typeof SIGSTORE_BUNDLE_MEDIA_TYPE;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: [] };
  dsseEnvelope: { payload: string; payloadType: string; signatures: Array<{ sig: string }> };
}

// model_signing orders resources as Python orders PurePosixPath: by the list of path
// components, each compared by code point — not by the whole string ("a/b" sorts before
// "a.txt" because "a" < "a.txt", although "/" > ".").
function codePoints(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

function compareCodePoints(a: string, b: string): number {
  const x = codePoints(a);
  const y = codePoints(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function compareModelPaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareCodePoints(x[i]!, y[i]!);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/**
 * The statement for a model's files (paths relative to the model folder, POSIX). The subject's
 * digest is SHA-256 over the resources' raw digests in order, as model_signing computes it.
 */
export function buildOmsStatement(modelName: string, files: Array<{ path: string; sha256: string }>): OmsStatement {
  if (files.length === 0) throw new CairnError('INVALID_INPUT', 'an OMS signature needs at least one model file');
  const resources = [...files]
    .sort((a, b) => compareModelPaths(a.path, b.path))
    .map((f): OmsResource => {
      if (!/^[0-9a-f]{64}$/.test(f.sha256))
        throw new CairnError('INVALID_INPUT', `model file ${f.path}: not a SHA-256 hex digest`);
      return { name: f.path, algorithm: 'sha256', digest: f.sha256 };
    });
  for (let i = 1; i < resources.length; i++)
    if (resources[i]!.name === resources[i - 1]!.name)
      throw new CairnError('INVALID_INPUT', `model file ${resources[i]!.name} is listed twice`);
  return {
    _type: STATEMENT_V1,
    subject: [{ name: modelName, digest: { sha256: rootDigest(resources) } }],
    predicateType: OMS_PREDICATE_TYPE,
    predicate: { serialization: OMS_SERIALIZATION, resources },
  };
}

function rootDigest(resources: OmsResource[]): string {
  const h = createHash('sha256');
  for (const r of resources) h.update(Buffer.from(r.digest, 'hex'));
  return h.digest('hex');
}

function checkP256(key: KeyObject, type: 'public' | 'private'): void {
  if (key?.type !== type || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new CairnError('INVALID_INPUT', `the OMS key must be an ECDSA P-256 ${type} key`);
}

/** SPKI PEM, byte for byte what Python's cryptography writes (the key hint hashes these bytes). */
export function omsPublicKeyPem(key: KeyObject | DeviceSigner): string {
  const pub = isDeviceSigner(key) ? key.publicKey : key.type === 'private' ? createPublicKey(key) : key;
  checkP256(pub, 'public');
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

/** model_signing's key hint: hex SHA-256 of the public key's SPKI PEM text. */
export function omsKeyHint(publicKey: KeyObject | DeviceSigner): string {
  return createHash('sha256').update(omsPublicKeyPem(publicKey), 'utf8').digest('hex');
}

/** Signs the statement (ECDSA P-256 with SHA-256 over the DSSE PAE) into a Sigstore bundle. */
export function signOms(statement: OmsStatement, privateKey: KeyObject | DeviceSigner): OmsBundle {
  if (isDeviceSigner(privateKey)) checkP256(privateKey.publicKey, 'public');
  else checkP256(privateKey, 'private');
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = signWith('sha256', pae(IN_TOTO_PAYLOAD_TYPE, payload), privateKey);
  return {
    mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: omsKeyHint(privateKey) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sig.toString('base64') }],
    },
  };
}

export type OmsCheck = { ok: true; statement: OmsStatement } | { ok: false; reason: string };

/**
 * What model_signing checks, in its order: media type, key hint, the first signature over the
 * PAE, payload type, statement and predicate type, the subject digest against the resources,
 * then the resources against `files` (the model folder as it is now: same names, same digests,
 * nothing more, nothing less).
 */
export function verifyOms(
  text: string,
  publicKey: KeyObject,
  files: Array<{ path: string; sha256: string }>,
): OmsCheck {
  checkP256(publicKey, 'public');
  let b: Partial<OmsBundle>;
  try {
    b = JSON.parse(text) as Partial<OmsBundle>;
  } catch {
    return { ok: false, reason: 'the OMS signature is not JSON' };
  }
  if (b?.mediaType !== SIGSTORE_BUNDLE_MEDIA_TYPE)
    return {
      ok: false,
      reason: `mediaType is ${JSON.stringify(b?.mediaType)}, expected ${SIGSTORE_BUNDLE_MEDIA_TYPE}`,
    };
  const hint = b.verificationMaterial?.publicKey?.hint;
  if (typeof hint === 'string' && hint !== '' && hint !== omsKeyHint(publicKey))
    return { ok: false, reason: 'the key hint names another public key' };
  const env = b.dsseEnvelope;
  const sig = env?.signatures?.[0]?.sig;
  if (typeof env?.payload !== 'string' || typeof sig !== 'string')
    return { ok: false, reason: 'the bundle has no DSSE envelope with a signature' };
  const payload = Buffer.from(env.payload, 'base64');
  if (
    env.payloadType !== IN_TOTO_PAYLOAD_TYPE ||
    !verify('sha256', pae(env.payloadType, payload), publicKey, Buffer.from(sig, 'base64'))
  )
    return { ok: false, reason: 'the DSSE signature does not verify with the OMS key' };
  let s: OmsStatement;
  try {
    s = JSON.parse(payload.toString('utf8')) as OmsStatement;
  } catch {
    return { ok: false, reason: 'the signed payload is not JSON' };
  }
  if (
    s?._type !== STATEMENT_V1 ||
    s.predicateType !== OMS_PREDICATE_TYPE ||
    !Array.isArray(s.subject) ||
    s.subject.length !== 1
  )
    return { ok: false, reason: 'the signed payload is not a model_signing v1.0 statement with one subject' };
  const resources = s.predicate?.resources;
  if (!Array.isArray(resources) || s.predicate.serialization?.method !== 'files')
    return { ok: false, reason: 'the statement has no files serialization with resources' };
  if (resources.some((r) => r?.algorithm !== 'sha256' || !/^[0-9a-f]{64}$/.test(String(r?.digest))))
    return { ok: false, reason: 'a resource has no SHA-256 digest' };
  if (s.subject[0]?.digest?.sha256 !== rootDigest(resources))
    return { ok: false, reason: 'the subject digest does not match the resources' };
  const signed = new Map(resources.map((r) => [r.name, r.digest]));
  const present = new Map(files.map((f) => [f.path, f.sha256]));
  for (const [name, digest] of present) {
    if (!signed.has(name)) return { ok: false, reason: `model file ${name} is not signed` };
    if (signed.get(name) !== digest) return { ok: false, reason: `model file ${name} differs from what was signed` };
  }
  for (const name of signed.keys())
    if (!present.has(name)) return { ok: false, reason: `signed model file ${name} is missing` };
  return { ok: true, statement: s };
}
