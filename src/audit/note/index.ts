export {
  ED25519_PUBLIC_KEY_SIZE,
  ED25519_SIGNATURE_TYPE,
  KEY_ID_SIZE,
  checkKeyName,
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
  signerFromPrivateKey,
  verifierFromPublicKey,
} from './keys.js';
export type { NoteSigner, NoteVerifier, ParsedVerifierKey } from './keys.js';
export { MAX_NOTE_SIGNATURES, MAX_NOTE_SIZE, addNoteSignature, openNote, signNote } from './signed-note.js';
export type { NoteKeyRef, OpenedNote } from './signed-note.js';
export { formatCheckpointBody, openCheckpoint, parseCheckpointBody, signCheckpoint } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
