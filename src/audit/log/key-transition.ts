import { CairnError } from '../../core/errors.js';
import {
  addNoteSignature,
  formatVerifierKey,
  openNote,
  parseVerifierKey,
  signNote,
  type NoteSigner,
  type NoteVerifier,
} from '../note/index.js';

/**
 * A key transition: a signed note, carried in a `keys.rotate` event, saying that from this
 * point of the log `to` signs its checkpoints instead of `from`. The old key signs it (it is
 * the authority that hands over) and the new key countersigns it (proof that whoever announced
 * it holds the new key), so a verifier that pinned either key can follow the chain both ways.
 *
 *     cairn key-transition/v1
 *     origin <log origin>
 *     purpose audit
 *     from <vkey of the retiring key>
 *     to <vkey of the new key>
 *     time <ISO 8601 UTC>
 */
export const KEY_TRANSITION_HEADER = 'cairn key-transition/v1';

export interface KeyTransition {
  origin: string;
  purpose: 'audit';
  from: string;
  to: string;
  time: string;
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

function invalid(message: string): CairnError {
  return new CairnError('SIGNATURE_INVALID', `key transition: ${message}`);
}

export function formatKeyTransition(t: KeyTransition): string {
  for (const [k, v] of Object.entries(t)) if (/[\n\r]/.test(v)) throw invalid(`${k} holds a line break`);
  return `${KEY_TRANSITION_HEADER}\norigin ${t.origin}\npurpose ${t.purpose}\nfrom ${t.from}\nto ${t.to}\ntime ${t.time}\n`;
}

/** The strict inverse of formatKeyTransition. */
export function parseKeyTransition(text: string): KeyTransition {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : [];
  const field = (i: number, name: string): string => {
    const l = lines[i];
    if (l === undefined || !l.startsWith(`${name} `)) throw invalid(`line ${i + 1} must be "${name} …"`);
    return l.slice(name.length + 1);
  };
  if (lines.length !== 6 || lines[0] !== KEY_TRANSITION_HEADER) throw invalid(`not a ${KEY_TRANSITION_HEADER} note`);
  const t = {
    origin: field(1, 'origin'),
    purpose: field(2, 'purpose'),
    from: field(3, 'from'),
    to: field(4, 'to'),
    time: field(5, 'time'),
  };
  if (t.purpose !== 'audit') throw invalid(`unknown purpose ${JSON.stringify(t.purpose)}`);
  if (!ISO_UTC.test(t.time)) throw invalid('time must be ISO 8601 UTC');
  if (t.from === t.to) throw invalid('a key cannot hand over to itself');
  return { ...t, purpose: 'audit' };
}

/** Signs a transition with the retiring key, then countersigns it with the new one. */
export function signKeyTransition(t: KeyTransition, oldKey: NoteSigner, newKey: NoteSigner): string {
  if (formatVerifierKey(oldKey.name, oldKey.rawPublicKey) !== t.from)
    throw new CairnError('INTERNAL', 'the retiring signer is not the key the transition names as from');
  if (formatVerifierKey(newKey.name, newKey.rawPublicKey) !== t.to)
    throw new CairnError('INTERNAL', 'the new signer is not the key the transition names as to');
  return addNoteSignature(signNote(formatKeyTransition(t), oldKey), newKey);
}

function verifierOf(vkey: string): NoteVerifier {
  const k = parseVerifierKey(vkey);
  return { name: k.name, keyId: k.keyId, publicKey: k.publicKey };
}

/**
 * Opens a transition note for the log `origin` whose checkpoints `current` signs now: it must
 * name `current` as `from`, carry a valid signature by it and one by the key it names as `to`.
 * Returns the transition and the new key's verifier; SIGNATURE_INVALID otherwise.
 */
export function openKeyTransition(
  note: string,
  origin: string,
  current: NoteVerifier & { vkey: string },
): { transition: KeyTransition; next: NoteVerifier & { vkey: string } } {
  let text: string;
  try {
    // Either key alone opens it; both are required below.
    text = openNote(note, [current]).text;
  } catch (err) {
    throw invalid(`not signed by the current key ${current.vkey}: ${(err as Error).message}`);
  }
  const t = parseKeyTransition(text);
  if (t.origin !== origin) throw invalid(`it is for log ${t.origin}, not ${origin}`);
  if (t.from !== current.vkey) throw invalid(`it hands over from ${t.from}, but the current key is ${current.vkey}`);
  let next: NoteVerifier;
  try {
    next = verifierOf(t.to);
  } catch (err) {
    throw invalid(`its new key is not a verifier key: ${(err as Error).message}`);
  }
  if (next.name !== origin) throw invalid(`its new key is named ${next.name}, not ${origin}`);
  try {
    openNote(note, [next]);
  } catch (err) {
    throw invalid(`not countersigned by the new key: ${(err as Error).message}`);
  }
  return { transition: t, next: { ...next, vkey: t.to } };
}

/** A verifier together with its vkey text, as the chain compares keys by their vkey. */
export function chainKey(vkey: string): NoteVerifier & { vkey: string } {
  return { ...verifierOf(vkey), vkey };
}
