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

/**
 * Cairn's extension to add-checkpoint: the log's audit-key transitions, sent in a request header
 * so the body stays exactly the spec's (a witness that does not know the header ignores it). Each
 * is the `keys.rotate` entry's statement (a signed note), the entry's bytes, its index and an
 * inclusion proof in the checkpoint's tree (base64 hashes), so a witness that pinned the old key
 * can check that the log recorded the hand-over before it trusts the new key.
 */
export const KEY_TRANSITION_HEADER = 'cairn-key-transition';
/** At most this many transitions are read from one request (the newest are sent). */
export const MAX_PRESENTED_TRANSITIONS = 4;

export interface PresentedTransition {
  index: number;
  statement: string;
  entry: string;
  proof: Buffer[];
}

/** The header value: comma-separated base64 of each transition's JSON (base64 has no commas). */
export function formatTransitionHeader(
  transitions: ReadonlyArray<{ index: number; statement: string; entry: string; proof: readonly string[] }>,
): string | null {
  const last = transitions.slice(-MAX_PRESENTED_TRANSITIONS);
  if (last.length === 0) return null;
  return last.map((t) => Buffer.from(JSON.stringify(t), 'utf8').toString('base64')).join(',');
}

/** The transitions a request presents, or the reason the header is malformed (400). */
export function parseTransitionHeader(value: string | undefined): PresentedTransition[] | { malformed: string } {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > MAX_PRESENTED_TRANSITIONS)
    return { malformed: `more than ${MAX_PRESENTED_TRANSITIONS} key transitions in ${KEY_TRANSITION_HEADER}` };
  const out: PresentedTransition[] = [];
  for (const part of parts) {
    const raw = decodeBase64Strict(part);
    let t: { index?: unknown; statement?: unknown; entry?: unknown; proof?: unknown };
    try {
      if (raw === null) throw new Error('not base64');
      t = JSON.parse(raw.toString('utf8')) as typeof t;
    } catch {
      return { malformed: `a ${KEY_TRANSITION_HEADER} value is not base64 of JSON` };
    }
    if (
      typeof t !== 'object' ||
      t === null ||
      !Number.isSafeInteger(t.index) ||
      (t.index as number) < 0 ||
      typeof t.statement !== 'string' ||
      typeof t.entry !== 'string' ||
      !Array.isArray(t.proof) ||
      t.proof.length > MAX_PROOF_LINES
    )
      return { malformed: `a ${KEY_TRANSITION_HEADER} value needs {index, statement, entry, proof}` };
    const proof: Buffer[] = [];
    for (const h of t.proof) {
      const b = typeof h === 'string' ? decodeBase64Strict(h) : null;
      if (b === null || b.length !== 32) return { malformed: 'each transition proof hash is base64 of 32 bytes' };
      proof.push(b);
    }
    out.push({ index: t.index as number, statement: t.statement, entry: t.entry, proof });
  }
  return out;
}
