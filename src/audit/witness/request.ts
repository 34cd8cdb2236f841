import { decodeBase64Strict } from '../note/base64.js';

/** The spec's cap on consistency proof lines (a proof of a tree of up to 2^63 leaves). */
export const MAX_PROOF_LINES = 63;
/** What a witness reads of a request body: a checkpoint with a few signatures is far smaller. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Buffer[];
  /** The signed checkpoint note, exactly as sent. */
  note: string;
}

const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/** "old <size>\n", one base64 hash per line, a blank line, then the signed checkpoint. */
export function formatAddCheckpoint(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${Buffer.from(h).toString('base64')}\n`).join('')}\n${note}`;
}

/** The request, or the reason it is malformed (the witness answers 400 Bad Request). */
export function parseAddCheckpoint(body: string): AddCheckpointRequest | { malformed: string } {
  const split = body.indexOf('\n\n');
  if (split < 0) return { malformed: 'no blank line between the proof and the checkpoint' };
  const head = body.slice(0, split).split('\n');
  const note = body.slice(split + 2);
  const first = head[0] ?? '';
  if (!first.startsWith('old ')) return { malformed: 'the first line must be "old <size>"' };
  const sizeText = first.slice(4);
  if (!DECIMAL.test(sizeText) || !Number.isSafeInteger(Number(sizeText)))
    return { malformed: 'the old size must be a decimal without leading zeroes' };
  const lines = head.slice(1);
  if (lines.length > MAX_PROOF_LINES) return { malformed: `more than ${MAX_PROOF_LINES} consistency proof lines` };
  const proof: Buffer[] = [];
  for (const line of lines) {
    const h = decodeBase64Strict(line);
    if (h === null || h.length !== 32) return { malformed: 'each proof line must be base64 of a 32-byte hash' };
    proof.push(h);
  }
  if (note.length === 0) return { malformed: 'the checkpoint is missing' };
  return { oldSize: Number(sizeText), proof, note };
}

/** The body of a 409 Conflict: the witness's latest cosigned size, or null when it is not one. */
export function parseSizeBody(contentType: string | null, body: string): number | null {
  if ((contentType ?? '').split(';')[0]!.trim() !== 'text/x.tlog.size') return null;
  if (!body.endsWith('\n')) return null;
  const text = body.slice(0, -1);
  return DECIMAL.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : null;
}
