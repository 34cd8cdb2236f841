import { CairnError } from '../../core/errors.js';
import { decodeBase64Strict } from './base64.js';
import type { NoteSigner, NoteVerifier } from './keys.js';
import { openNote, signNote } from './signed-note.js';
import type { NoteKeyRef } from './signed-note.js';

/** The body of a C2SP tlog-checkpoint: the log's origin, its size and its RFC 6962 root. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  extensions: string[];
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this must find
const CONTROL = /[\u0000-\u001f]/;

function invalid(reason: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('INVALID_INPUT', `malformed checkpoint: ${reason}`, { data: { reason, ...data } });
}

function checkLine(line: unknown, what: string): string {
  if (typeof line !== 'string' || line.length === 0 || CONTROL.test(line)) {
    throw invalid(`the ${what} must be a non-empty line without control characters`);
  }
  return line;
}

/** `<origin>\n<size>\n<base64 root>\n` followed by any extension lines. */
export function formatCheckpointBody(checkpoint: {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}): string {
  const origin = checkLine(checkpoint.origin, 'origin');
  const { size, rootHash } = checkpoint;
  if (!Number.isSafeInteger(size) || size < 0) throw invalid('the size must be a non-negative integer', { size });
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== 32) throw invalid('the root hash must be 32 bytes');
  const extensions = (checkpoint.extensions ?? []).map((e, i) => checkLine(e, `extension line ${i + 1}`));
  return [origin, String(size), Buffer.from(rootHash).toString('base64'), ...extensions].map((l) => `${l}\n`).join('');
}

/** The strict inverse of formatCheckpointBody: every checkpoint has exactly one spelling. */
export function parseCheckpointBody(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw invalid('the text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw invalid('expected at least three lines: origin, size, root hash');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine(origin, 'origin');
  if (!DECIMAL.test(sizeText)) throw invalid('the size must be decimal without leading zeros', { size: sizeText });
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) {
    throw new CairnError(
      'UNSUPPORTED',
      `a checkpoint size of ${sizeText} is beyond what this implementation can count`,
      { data: { size: sizeText } },
    );
  }
  const rootHash = decodeBase64Strict(rootText);
  if (rootHash === null || rootHash.length !== 32) throw invalid('the root hash must be base64 of 32 bytes');
  extensions.forEach((e, i) => checkLine(e, `extension line ${i + 1}`));
  return { origin, size, rootHash, extensions };
}

export function signCheckpoint(
  checkpoint: { origin: string; size: number; rootHash: Uint8Array; extensions?: readonly string[] },
  signer: NoteSigner,
): string {
  return signNote(formatCheckpointBody(checkpoint), signer);
}

/** openNote, then parseCheckpointBody of the verified text. */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): { checkpoint: Checkpoint; verified: NoteKeyRef[]; unverified: NoteKeyRef[] } {
  const opened = openNote(note, verifiers);
  return { checkpoint: parseCheckpointBody(opened.text), verified: opened.verified, unverified: opened.unverified };
}
