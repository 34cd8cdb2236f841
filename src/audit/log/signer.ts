import type { KeyObject } from 'node:crypto';
import { keyId, type NoteSigner, type NoteVerifier } from '../note/index.js';

/** The log's identity: checkpoints are signed notes whose key name is the log origin. */
export interface LogKeys {
  origin: string;
  signer: () => NoteSigner;
  verifier: NoteVerifier;
  rawPublicKey: Buffer;
  /**
   * Keys this log signed with before a rotation, newest first: notes they signed (the kept
   * copy, the database's latest) are still this log's until a checkpoint by the new key replaces them.
   */
  retired?: NoteVerifier[];
}

export function verifierFor(name: string, publicKey: KeyObject, raw: Buffer): NoteVerifier {
  return { name, keyId: keyId(name, raw), publicKey };
}
