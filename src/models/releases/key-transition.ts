import { createPublicKey, type KeyObject } from 'node:crypto';
import { canonicalJsonBytes } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { publicKeyFromPem, rawPublicKey } from '../../audit/note/index.js';
import {
  keyIdOf,
  pae,
  parseEnvelope,
  publicKeyOf,
  signWith,
  verifyEnvelope,
  type DsseEnvelope,
  type SigningKey,
} from './dsse.js';

/**
 * A release-key transition: a DSSE envelope whose payload says that from this point of the log
 * `to` signs the workspace's releases instead of `from`. The retiring key signs it (the authority
 * hands over) and the new key countersigns it (whoever announced it holds it), as for the audit
 * key (docs/AUDIT.md §8), so a verifier who pinned either key can follow the chain both ways.
 * It is DSSE rather than a signed note because release verifiers already read DSSE with these keys.
 */
export const RELEASE_KEY_TRANSITION_TYPE = 'application/vnd.cairn.key-transition+json';
export const RELEASE_KEY_TRANSITION_FORMAT = 'cairn.key-transition/v1';
/** The chain a bundle carries (`key-chain.json`) and `release verify --key-chain` reads. */
export const RELEASE_KEY_CHAIN_FORMAT = 'cairn.release-key-chain/v1';

/** One release key as a transition names it: the Ed25519 key (DSSE) and the P-256 key (model.sig). */
export interface ReleaseKeyRef {
  /** `sha256:` + hex SHA-256 of the Ed25519 key's DER SubjectPublicKeyInfo (the bundles' keyid). */
  keyid: string;
  /** Its SPKI PEM. */
  publicKey: string;
  /** The OpenSSF Model Signing key that goes with it (P-256 SPKI PEM). */
  omsPublicKey: string;
}

export interface ReleaseKeyTransition {
  format: typeof RELEASE_KEY_TRANSITION_FORMAT;
  purpose: 'release';
  /** The audit log (its origin) whose `keys.rotate` event records the transition. */
  origin: string;
  from: ReleaseKeyRef;
  to: ReleaseKeyRef;
  /** ISO 8601 UTC. */
  time: string;
}

/** A transition as the log recorded it: the index of its `keys.rotate` event and the envelope. */
export interface RecordedTransition {
  index: number;
  envelope: DsseEnvelope;
}

export interface ReleaseKeyChainFile {
  format: typeof RELEASE_KEY_CHAIN_FORMAT;
  transitions: RecordedTransition[];
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

function invalid(message: string): CairnError {
  return new CairnError('SIGNATURE_INVALID', `release key transition: ${message}`);
}

/** The reference of a release key pair from its public halves. */
export function releaseKeyRef(publicKey: KeyObject, omsPublicKeyPem: string): ReleaseKeyRef {
  const pub = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  return {
    keyid: keyIdOf(pub),
    publicKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
    omsPublicKey: createPublicKey(omsPublicKeyPem).export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Signs a transition with the retiring key, then countersigns it with the new one. */
export function signReleaseKeyTransition(
  t: ReleaseKeyTransition,
  oldKey: SigningKey,
  newKey: SigningKey,
): DsseEnvelope {
  const oldPub = publicKeyOf(oldKey);
  const newPub = publicKeyOf(newKey);
  if (keyIdOf(oldPub) !== t.from.keyid)
    throw new CairnError('INTERNAL', 'the retiring key is not the key the transition names as from');
  if (keyIdOf(newPub) !== t.to.keyid)
    throw new CairnError('INTERNAL', 'the new key is not the key the transition names as to');
  checkTransition(t);
  const payload = canonicalJsonBytes(t);
  const message = pae(RELEASE_KEY_TRANSITION_TYPE, payload);
  return {
    payload: payload.toString('base64'),
    payloadType: RELEASE_KEY_TRANSITION_TYPE,
    signatures: [
      { keyid: t.from.keyid, sig: signWith(null, message, oldKey).toString('base64') },
      { keyid: t.to.keyid, sig: signWith(null, message, newKey).toString('base64') },
    ],
  };
}

function keyOfRef(ref: unknown, what: string): { ref: ReleaseKeyRef; key: KeyObject } {
  const r = ref as Partial<ReleaseKeyRef> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.keyid !== 'string' ||
    typeof r.publicKey !== 'string' ||
    typeof r.omsPublicKey !== 'string'
  )
    throw invalid(`${what} must be {keyid, publicKey, omsPublicKey}`);
  let key: KeyObject;
  try {
    key = publicKeyFromPem(r.publicKey);
    rawPublicKey(key);
    const oms = createPublicKey(r.omsPublicKey);
    if (oms.asymmetricKeyType !== 'ec' || oms.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new Error('the OMS key is not ECDSA P-256');
  } catch (err) {
    throw invalid(`${what} is not a release key: ${(err as Error).message}`);
  }
  if (keyIdOf(key) !== r.keyid) throw invalid(`${what}.keyid is not the id of ${what}.publicKey`);
  return { ref: { keyid: r.keyid, publicKey: r.publicKey, omsPublicKey: r.omsPublicKey }, key };
}

function checkTransition(t: ReleaseKeyTransition): void {
  if (t.format !== RELEASE_KEY_TRANSITION_FORMAT) throw invalid(`not a ${RELEASE_KEY_TRANSITION_FORMAT} statement`);
  if (t.purpose !== 'release') throw invalid(`unknown purpose ${JSON.stringify(t.purpose)}`);
  if (typeof t.origin !== 'string' || t.origin.length === 0) throw invalid('origin must name the audit log');
  if (typeof t.time !== 'string' || !ISO_UTC.test(t.time)) throw invalid('time must be ISO 8601 UTC');
  if (t.from.keyid === t.to.keyid) throw invalid('a key cannot hand over to itself');
}

/** The payload of a transition envelope, checked for shape (not for signatures). */
export function parseReleaseKeyTransition(payload: Buffer): {
  transition: ReleaseKeyTransition;
  from: KeyObject;
  to: KeyObject;
} {
  let doc: Partial<ReleaseKeyTransition>;
  try {
    doc = JSON.parse(payload.toString('utf8')) as Partial<ReleaseKeyTransition>;
  } catch {
    throw invalid('the payload is not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw invalid('the payload is not an object');
  const from = keyOfRef(doc.from, 'from');
  const to = keyOfRef(doc.to, 'to');
  const t: ReleaseKeyTransition = {
    format: doc.format as typeof RELEASE_KEY_TRANSITION_FORMAT,
    purpose: doc.purpose as 'release',
    origin: doc.origin as string,
    from: from.ref,
    to: to.ref,
    time: doc.time as string,
  };
  checkTransition(t);
  // The exact bytes are signed; a payload that is not the canonical form of what it says is refused,
  // so two spellings of one transition cannot both circulate.
  if (!canonicalJsonBytes(t).equals(payload)) throw invalid('the payload is not in canonical form');
  return { transition: t, from: from.key, to: to.key };
}

/**
 * Opens a transition envelope that hands over from `current`: it must name `current` as `from`,
 * carry a valid signature by it and one by the key it names as `to`. SIGNATURE_INVALID otherwise.
 */
export function openReleaseKeyTransition(
  envelope: DsseEnvelope,
  current: KeyObject,
): { transition: ReleaseKeyTransition; next: KeyObject } {
  const byCurrent = verifyEnvelope(envelope, current, RELEASE_KEY_TRANSITION_TYPE);
  if (!byCurrent.ok) throw invalid(`not signed by the current key ${keyIdOf(current)}: ${byCurrent.reason}`);
  const { transition, from, to } = parseReleaseKeyTransition(byCurrent.payload);
  if (keyIdOf(from) !== keyIdOf(current))
    throw invalid(`it hands over from ${transition.from.keyid}, but the current key is ${keyIdOf(current)}`);
  const byNext = verifyEnvelope(envelope, to, RELEASE_KEY_TRANSITION_TYPE);
  if (!byNext.ok) throw invalid(`not countersigned by the new key ${transition.to.keyid}: ${byNext.reason}`);
  return { transition, next: to };
}

/** One key of a followed chain: where the log introduced it and where it retired it (event indexes). */
export interface ChainedKey {
  keyid: string;
  key: KeyObject;
  /** The index of the transition that handed over to it; null for the first key. */
  since: number | null;
  /** The index of the transition that handed over from it; null for the current key. */
  retiredAt: number | null;
}

/**
 * Follows recorded transitions from the key the first one hands over from. Each must be signed by
 * the then-current key and countersigned by the next, come later in the log than the one before,
 * and never hand back to a key already retired. Returns the keys in order, or why it stopped.
 */
export function followReleaseKeyChain(
  transitions: readonly RecordedTransition[],
  origin?: string,
): { keys: ChainedKey[] } | { problem: string; keys: ChainedKey[] } {
  const keys: ChainedKey[] = [];
  for (const [i, t] of transitions.entries()) {
    if (!Number.isSafeInteger(t.index) || t.index < 0)
      return { problem: `transition ${i} has no valid log index`, keys };
    let first: KeyObject;
    if (keys.length === 0) {
      // The chain starts at whatever key the first transition hands over from.
      const payload = decodePayload(t.envelope);
      try {
        first = parseReleaseKeyTransition(payload).from;
      } catch (err) {
        return { problem: `transition ${i} (entry ${t.index}): ${(err as Error).message}`, keys };
      }
      keys.push({ keyid: keyIdOf(first), key: first, since: null, retiredAt: null });
    }
    const current = keys[keys.length - 1]!;
    if (current.since !== null && t.index <= current.since)
      return { problem: `transition ${i} (entry ${t.index}) is not later in the log than the one before it`, keys };
    let opened;
    try {
      opened = openReleaseKeyTransition(t.envelope, current.key);
    } catch (err) {
      return { problem: `transition ${i} (entry ${t.index}): ${(err as Error).message}`, keys };
    }
    // One chain, one log: every transition is for the log the first one names (or the caller's).
    origin ??= opened.transition.origin;
    if (opened.transition.origin !== origin)
      return {
        problem: `transition ${i} (entry ${t.index}) is for log ${opened.transition.origin}, not ${origin}`,
        keys,
      };
    const nextId = keyIdOf(opened.next);
    if (keys.some((k) => k.keyid === nextId))
      return { problem: `transition ${i} (entry ${t.index}) hands back to a key already retired (${nextId})`, keys };
    current.retiredAt = t.index;
    keys.push({ keyid: nextId, key: opened.next, since: t.index, retiredAt: null });
  }
  return { keys };
}

function decodePayload(env: DsseEnvelope): Buffer {
  return Buffer.from(env.payload, 'base64');
}

/** The chain file text (`key-chain.json`, `keys/release-chain.json`). */
export function formatReleaseKeyChain(transitions: readonly RecordedTransition[]): string {
  const file: ReleaseKeyChainFile = { format: RELEASE_KEY_CHAIN_FORMAT, transitions: [...transitions] };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Reads a chain file; INVALID_INPUT when it is not one (signatures are checked when it is followed). */
export function parseReleaseKeyChain(text: string): RecordedTransition[] {
  let doc: Partial<ReleaseKeyChainFile>;
  try {
    doc = JSON.parse(text) as Partial<ReleaseKeyChainFile>;
  } catch {
    throw new CairnError('INVALID_INPUT', 'the release key chain is not JSON');
  }
  if (
    typeof doc !== 'object' ||
    doc === null ||
    doc.format !== RELEASE_KEY_CHAIN_FORMAT ||
    !Array.isArray(doc.transitions)
  )
    throw new CairnError('INVALID_INPUT', `not a ${RELEASE_KEY_CHAIN_FORMAT} file ({"format", "transitions": [...]})`);
  return doc.transitions.map((t, i) => {
    const x = t as Partial<RecordedTransition> | null;
    if (typeof x !== 'object' || x === null || !Number.isSafeInteger(x.index) || typeof x.envelope !== 'object')
      throw new CairnError('INVALID_INPUT', `transition ${i} of the release key chain needs {index, envelope}`);
    return { index: x.index!, envelope: parseEnvelope(JSON.stringify(x.envelope)) };
  });
}

/** Whether two recorded transitions are the same statement at the same index (signatures aside). */
export function sameTransition(a: RecordedTransition, b: RecordedTransition): boolean {
  return (
    a.index === b.index &&
    a.envelope.payload === b.envelope.payload &&
    a.envelope.payloadType === b.envelope.payloadType
  );
}
