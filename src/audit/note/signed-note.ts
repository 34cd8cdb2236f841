import { sign, verify } from 'node:crypto';
import { CairnError } from '../../core/errors.js';
import { decodeBase64Strict } from './base64.js';
import { isValidKeyName, KEY_ID_SIZE, keyId, publicKeyFromRaw, rawPublicKey } from './keys.js';
import type { NoteSigner, NoteVerifier } from './keys.js';

/**
 * Limits on what openNote will parse. The spec requires accepting at least 16 signatures; 100 is what
 * Go's reference implementation allows. 1 MiB leaves room for 100 post-quantum (≈5 kB) signatures.
 */
export const MAX_NOTE_SIZE = 1 << 20;
export const MAX_NOTE_SIGNATURES = 100;

const ED25519_SIGNATURE_SIZE = 64;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
// eslint-disable-next-line no-control-regex -- control characters are exactly what this must find
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export interface NoteKeyRef {
  name: string;
  /** 8 lowercase hex digits. */
  keyId: string;
}

export interface OpenedNote {
  /** The signed text, including its final newline. */
  text: string;
  /** Signatures by a given verifier that checked out, in note order, one per key. */
  verified: NoteKeyRef[];
  /** Signatures by keys the caller did not supply; ignored, as the spec requires. */
  unverified: NoteKeyRef[];
}

interface SignatureLine {
  name: string;
  keyId: Buffer;
  signature: Buffer;
  line: string;
}

function malformed(reason: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('INVALID_INPUT', `malformed signed note: ${reason}`, { data: { reason, ...data } });
}

/** UTF-8, no control characters but newline, within the size limit. Shared by text and whole notes. */
function checkNoteCharacters(value: string, what: string): void {
  if (Buffer.byteLength(value, 'utf8') > MAX_NOTE_SIZE)
    throw malformed(`the ${what} is larger than ${MAX_NOTE_SIZE} bytes`);
  if (CONTROL_BUT_NEWLINE.test(value))
    throw malformed(`the ${what} contains a control character (only \\n is allowed; CRLF is not)`);
  if (LONE_SURROGATE.test(value)) throw malformed(`the ${what} is not valid Unicode`);
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === 'string') return note;
  if (!(note instanceof Uint8Array)) throw malformed('a note is a string or bytes');
  if (note.length > MAX_NOTE_SIZE) throw malformed(`the note is larger than ${MAX_NOTE_SIZE} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
  } catch {
    throw malformed('the note is not valid UTF-8');
  }
}

/** Splits a note into its text and signature lines, checking structure only; nothing is verified. */
function parseNote(input: string | Uint8Array): { text: string; signatures: SignatureLine[] } {
  const note = decodeNote(input);
  checkNoteCharacters(note, 'note');
  // Signature lines never contain a blank line, so the last one separates them from the text, and
  // the text itself may contain blank lines.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('there is no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n'))
    throw malformed('the signature block must be one or more lines each ending in a newline');

  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i): SignatureLine => {
    if (!line.startsWith(SIGNATURE_PREFIX))
      throw malformed(`signature line ${i + 1} does not start with an em dash and a space`, { line: i + 1 });
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const bytes = space < 0 ? null : decodeBase64Strict(rest.slice(space + 1));
    if (!isValidKeyName(name)) throw malformed(`signature line ${i + 1} has an invalid key name`, { line: i + 1 });
    if (bytes === null || bytes.length <= KEY_ID_SIZE) {
      throw malformed(`signature line ${i + 1} does not end in base64 of a key ID and a signature`, { line: i + 1 });
    }
    return {
      name,
      keyId: Buffer.from(bytes.subarray(0, KEY_ID_SIZE)),
      signature: Buffer.from(bytes.subarray(KEY_ID_SIZE)),
      line,
    };
  });
  return { text, signatures };
}

function checkText(text: string): void {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('the text to sign must end with a newline');
  checkNoteCharacters(text, 'text');
}

function signatureLine(text: string, signer: NoteSigner): { line: string; name: string; keyId: Buffer } {
  if (!isValidKeyName(signer?.name))
    throw new CairnError('INVALID_INPUT', `invalid signing key name ${JSON.stringify(signer?.name)}`);
  // The key ID on the line comes from rawPublicKey, so it has to be the private key's own public half.
  const message = Buffer.from(text, 'utf8');
  let sig: Buffer;
  if (signer.sign) {
    // A token signs with a key Cairn cannot see: check the signature against the stated public key.
    sig = signer.sign(message);
    if (
      !(signer.rawPublicKey instanceof Uint8Array) ||
      !verify(null, message, publicKeyFromRaw(signer.rawPublicKey), sig)
    )
      throw new CairnError('INVALID_INPUT', `the signer ${signer.name} signed with another key than its rawPublicKey`);
  } else {
    if (!(signer.rawPublicKey instanceof Uint8Array) || !rawPublicKey(signer.privateKey).equals(signer.rawPublicKey)) {
      throw new CairnError(
        'INVALID_INPUT',
        `the signer ${signer.name}'s rawPublicKey is not the public half of its private key`,
      );
    }
    sig = sign(null, message, signer.privateKey);
  }
  const id = keyId(signer.name, signer.rawPublicKey);
  return {
    line: `${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([id, sig]).toString('base64')}`,
    name: signer.name,
    keyId: id,
  };
}

/**
 * Signs `text` (which must end in a newline) and returns the note: text, a blank line, and one
 * signature line `— <name> <base64(key ID ‖ Ed25519 signature)>`.
 */
export function signNote(text: string, signer: NoteSigner): string {
  checkText(text);
  return `${text}\n${signatureLine(text, signer).line}\n`;
}

/**
 * Adds a signature (a cosignature, say) to an existing note, replacing any earlier signature by the
 * same key. It checks the note's structure but not its signatures: open the note first if the
 * countersignature is meant to vouch for them.
 */
export function addNoteSignature(note: string | Uint8Array, signer: NoteSigner): string {
  const { text, signatures } = parseNote(note);
  const added = signatureLine(text, signer);
  const kept = signatures.filter((s) => !(s.name === added.name && s.keyId.equals(added.keyId))).map((s) => s.line);
  if (kept.length + 1 > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  return `${text}\n${[...kept, added.line].join('\n')}\n`;
}

function ref(name: string, id: Buffer): NoteKeyRef {
  return { name, keyId: id.toString('hex') };
}

/**
 * Parses a signed note and checks every signature whose name and key ID match a verifier.
 *
 * Throws INVALID_INPUT for a malformed note, and SIGNATURE_INVALID when a signature by a known key
 * does not verify (the spec lets a client reject the whole note then, and a log's own checkpoint
 * should never carry one) or when no known key signed it at all. Signatures by unknown keys are
 * reported but otherwise ignored, even when they share a name or a key ID with a known key.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  for (const v of verifiers) {
    if (!isValidKeyName(v?.name) || !(v.keyId instanceof Uint8Array) || v.keyId.length !== KEY_ID_SIZE) {
      throw new CairnError('INVALID_INPUT', 'a note verifier needs a valid name and a 4-byte key ID', {
        data: { name: v?.name ?? null },
      });
    }
  }
  const { text, signatures } = parseNote(note);
  const message = Buffer.from(text, 'utf8');
  const verified: NoteKeyRef[] = [];
  const unverified: NoteKeyRef[] = [];
  const seenVerified = new Set<string>();
  const seenUnverified = new Set<string>();

  for (const sig of signatures) {
    const id = `${sig.name}+${sig.keyId.toString('hex')}`;
    const matches = verifiers.filter((v) => v.name === sig.name && Buffer.from(v.keyId).equals(sig.keyId));
    const first = matches[0];
    if (first === undefined) {
      if (!seenUnverified.has(sig.line)) unverified.push(ref(sig.name, sig.keyId));
      seenUnverified.add(sig.line);
      continue;
    }
    // Two different keys under one name and key ID mean the verifier list itself is wrong.
    const raw = rawPublicKey(first.publicKey);
    if (matches.some((v) => !rawPublicKey(v.publicKey).equals(raw))) {
      throw new CairnError('INVALID_INPUT', `ambiguous key ${id}: more than one verifier has that name and key ID`, {
        data: { key: id },
      });
    }
    if (seenVerified.has(id)) continue;
    seenVerified.add(id);
    const ok = sig.signature.length === ED25519_SIGNATURE_SIZE && verify(null, message, first.publicKey, sig.signature);
    if (!ok) {
      throw new CairnError('SIGNATURE_INVALID', `invalid signature for key ${id}`, {
        data: { name: sig.name, keyId: sig.keyId.toString('hex') },
      });
    }
    verified.push(ref(sig.name, sig.keyId));
  }

  if (verified.length === 0) {
    throw new CairnError('SIGNATURE_INVALID', 'the note has no signature from a known key', {
      data: { unverified: unverified.map((u) => `${u.name}+${u.keyId}`) },
    });
  }
  return { text, verified, unverified };
}
