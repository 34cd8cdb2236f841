import { createHash, type Hash } from 'node:crypto';
import type { PiiKind } from '../pii/patterns.js';
import { addCounts, isSafeCut, redactBytes, scanBytes, totalCount, zeroCounts } from '../pii/scan.js';
import { checkDecodable, DECODABLE_TYPES, type DecodeResult } from './decode.js';
import { DETECT_BYTES, detectType, expectedType, looksBinary, typeMismatch, type FileType } from './detect.js';
import { rangesOf, type FileInfo, type ReadFile } from './source.js';
import { Utf8Validator } from './utf8.js';

/**
 * One pass over one file that answers every question the checks or cleaning steps ask of it,
 * so each byte is read at most once. Small files are read whole in one call; larger ones in
 * pieces (head, then either the tail or the remaining chunks), so memory stays bounded.
 */

/** Files up to this size are read in one piece. */
export const WHOLE_FILE_BYTES = 16 * 1024 * 1024;
/** Larger files are read in pieces of this size. */
export const CHUNK_BYTES = 8 * 1024 * 1024;
/** For a large binary file, how much of its tail the decoders see (trailers, end markers). */
const TAIL_BYTES = 64 * 1024;
/** Masked PII values kept per file and scan. */
export const PII_SAMPLES_PER_FILE = 3;

export interface ProbeNeeds {
  /** Detect the content type (for `types`). */
  type: boolean;
  /** Check decodability. */
  decode: boolean;
  /** PII scans, one per check that applies to this file. */
  scans: ReadonlyArray<readonly PiiKind[]>;
  /** Redactions applied one after another, one per cleaning step that applies to this file. */
  redactions: ReadonlyArray<readonly PiiKind[]>;
}

export interface RedactionOutcome {
  counts: Record<PiiKind, number>;
  /** Size and SHA-256 (hex) of the bytes after this redaction. */
  size: number;
  digest: string;
}

export interface Probe {
  detected: FileType | null;
  /** typeMismatch's reason, or null. */
  mismatch: string | null;
  binary: boolean;
  /** The type the decoders judged the file as, or null when none applies. */
  decodedAs: string | null;
  decode: DecodeResult | null;
  scans: Array<{ counts: Record<PiiKind, number>; samples: string[] }>;
  redactions: RedactionOutcome[];
  /** The bytes after the last redaction, when any redaction changed the file. */
  redacted: Buffer | null;
}

export function needsRead(n: ProbeNeeds): boolean {
  return n.type || n.decode || n.scans.length > 0 || n.redactions.length > 0;
}

/**
 * The decoder for a file: its content type when one applies; otherwise, for unrecognized
 * content, the type its extension promises, or text when it does not look binary (a text in
 * a legacy encoding then fails as invalid UTF-8, which is the point).
 */
function decoderType(path: string, size: number, detected: FileType | null, binary: boolean): string | null {
  const expected = expectedType(path);
  // Zero bytes are valid UTF-8, but an empty `.png` is no PNG.
  if (size === 0 && expected !== null && expected !== 'text') return DECODABLE_TYPES.has(expected) ? expected : null;
  if (detected !== null) return DECODABLE_TYPES.has(detected) ? detected : null;
  if (expected !== null && expected !== 'text') return DECODABLE_TYPES.has(expected) ? expected : null;
  return binary ? null : 'text';
}

export async function probeFile(file: FileInfo, read: ReadFile, needs: ProbeNeeds): Promise<Probe> {
  const probe: Probe = {
    detected: null,
    mismatch: null,
    binary: false,
    decodedAs: null,
    decode: null,
    scans: [],
    redactions: [],
    redacted: null,
  };
  if (!needsRead(needs)) return probe;
  const range = rangesOf(read, file);
  const fullText = needs.scans.length > 0 || needs.redactions.length > 0;
  const whole = file.size <= WHOLE_FILE_BYTES;
  if (!fullText && !needs.decode) {
    const head = await range(0, DETECT_BYTES);
    classify(probe, file, head, needs);
    return probe;
  }
  if (whole) {
    const bytes = await range(0, file.size);
    classify(probe, file, bytes.subarray(0, DETECT_BYTES), needs);
    if (needs.decode && probe.decodedAs) probe.decode = checkDecodable(probe.decodedAs, bytes);
    if (fullText) {
      const texts = new TextPieces(needs, probe.binary);
      texts.push(bytes, true);
      await texts.finish(probe, async () => bytes);
    }
    return probe;
  }
  // A large file: the first chunk tells what it is, then read only what is still needed.
  const first = await range(0, CHUNK_BYTES);
  classify(probe, file, first.subarray(0, DETECT_BYTES), needs);
  const utf8 = needs.decode && probe.decodedAs === 'text' ? new Utf8Validator() : null;
  if (needs.decode && probe.decodedAs && !utf8) {
    // WHOLE_FILE_BYTES > CHUNK_BYTES + TAIL_BYTES, so the tail never overlaps the first chunk.
    const tail = await range(file.size - TAIL_BYTES, file.size);
    probe.decode = checkDecodable(probe.decodedAs, first, { size: file.size, tail });
  }
  const texts = fullText ? new TextPieces(needs, probe.binary) : null;
  if (!utf8 && !texts) return probe;
  for (let pos = 0, chunk = first; ;) {
    utf8?.push(chunk);
    texts?.push(chunk);
    pos += chunk.length;
    if (pos >= file.size || chunk.length === 0) break;
    chunk = await range(pos, pos + CHUNK_BYTES);
  }
  if (utf8) {
    const at = utf8.end();
    probe.decode = at < 0 ? { ok: true } : { ok: false, reason: `invalid UTF-8 at byte ${at}` };
  }
  if (texts) await texts.finish(probe, (end) => range(0, end));
  return probe;
}

function classify(probe: Probe, file: FileInfo, head: Buffer, needs: ProbeNeeds): void {
  // A scan alone needs no type; skipping this is a good part of the corpus scan's speed.
  if (!needs.type && !needs.decode && needs.redactions.length === 0) return;
  probe.detected = detectType(head);
  probe.mismatch = typeMismatch(file.path, head, probe.detected);
  probe.binary =
    probe.detected !== null && probe.detected !== 'text' ? true : probe.detected === 'text' ? false : looksBinary(head);
  probe.decodedAs = decoderType(file.path, file.size, probe.detected, probe.binary);
}

/**
 * PII scans and redactions over a file that arrives in pieces. Pieces are cut only at bytes
 * no pattern can contain (isSafeCut), so the outcome equals one pass over the whole file.
 * Binary files are scanned but never rewritten. Output pieces are kept only from the first
 * piece a redaction changed; the unchanged prefix is read again at the end, so a large file
 * without PII never sits in memory.
 */
class TextPieces {
  readonly #needs: ProbeNeeds;
  #carry: Buffer = Buffer.alloc(0);
  readonly #scans: Array<{ counts: Record<PiiKind, number>; samples: string[] }>;
  readonly #steps: Array<{ counts: Record<PiiKind, number>; size: number; hash: Hash }>;
  readonly #out: Buffer[] = [];
  #unchanged = 0;

  constructor(needs: ProbeNeeds, binary: boolean) {
    this.#needs = needs;
    this.#scans = needs.scans.map(() => ({ counts: zeroCounts(), samples: [] }));
    this.#steps = (binary ? [] : needs.redactions).map(() => ({
      counts: zeroCounts(),
      size: 0,
      hash: createHash('sha256'),
    }));
  }

  /** `last`: this is the rest of the file, so nothing needs holding back. */
  push(chunk: Buffer, last = false): void {
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    let cut = data.length;
    // Hold back the bytes after the last safe cut: they may begin a match the next piece ends.
    if (!last) while (cut > 0 && !isSafeCut(data[cut - 1] as number)) cut--;
    // A run this long without a single safe byte is no text; cut it anyway, bounding memory.
    if (cut === 0 && data.length >= 4 * CHUNK_BYTES) cut = data.length;
    if (cut === 0) {
      this.#carry = data;
      return;
    }
    this.#process(data.subarray(0, cut));
    this.#carry = cut === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(cut));
  }

  async finish(probe: Probe, prefix: (end: number) => Promise<Buffer>): Promise<void> {
    if (this.#carry.length > 0) this.#process(this.#carry);
    this.#carry = Buffer.alloc(0);
    probe.scans = this.#scans;
    probe.redactions = this.#steps.map((s) => ({ counts: s.counts, size: s.size, digest: s.hash.digest('hex') }));
    if (this.#out.length === 0) return;
    const head = this.#unchanged > 0 ? (await prefix(this.#unchanged)).subarray(0, this.#unchanged) : null;
    probe.redacted = head
      ? Buffer.concat([head, ...this.#out])
      : this.#out.length === 1
        ? (this.#out[0] as Buffer)
        : Buffer.concat(this.#out);
  }

  #process(piece: Buffer): void {
    this.#needs.scans.forEach((kinds, i) => {
      const s = this.#scans[i] as { counts: Record<PiiKind, number>; samples: string[] };
      const r = scanBytes(piece, kinds, { maxFindings: PII_SAMPLES_PER_FILE - s.samples.length });
      addCounts(s.counts, r.counts);
      for (const f of r.findings) s.samples.push(f.masked);
    });
    if (this.#steps.length === 0) return;
    let cur = piece;
    let changed = false;
    this.#needs.redactions.forEach((kinds, i) => {
      const step = this.#steps[i] as { counts: Record<PiiKind, number>; size: number; hash: Hash };
      const r = redactBytes(cur, kinds);
      addCounts(step.counts, r.counts);
      if (totalCount(r.counts) > 0) changed = true;
      cur = r.bytes;
      step.size += cur.length;
      step.hash.update(cur);
    });
    if (changed || this.#out.length > 0) this.#out.push(cur);
    else this.#unchanged += piece.length;
  }
}
