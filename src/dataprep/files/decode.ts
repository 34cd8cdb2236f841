import { firstInvalidUtf8 } from './utf8.js';

/**
 * Decodability of common formats, checked structurally without decoding pixels or samples:
 * enough to catch truncated, corrupted or mislabelled files cheaply.
 *
 * The checks take a file's bytes — the whole file, or for a large file its head plus its tail
 * (`Partial`). Structure that lies outside what was given is not judged: a walk that runs off
 * the head stops there, accepting what it has seen.
 */
export type DecodeResult = { ok: true } | { ok: false; reason: string };

/** Types with a decodability check; other types are not judged. */
export const DECODABLE_TYPES: ReadonlySet<string> = new Set(['text', 'png', 'jpeg', 'gif', 'wav']);

/** The head (first bytes) and tail (last bytes) of a file of `size` bytes. */
export interface Partial {
  size: number;
  tail: Buffer;
}

interface View {
  head: Buffer;
  size: number;
  tail: Buffer;
  whole: boolean;
}

const OK: DecodeResult = { ok: true };
const bad = (reason: string): DecodeResult => ({ ok: false, reason });

/**
 * Whether `bytes` decode as `type`. `bytes` is the whole file unless `partial` says it is only
 * the head of a larger one. Text must be whole: huge texts are validated with Utf8Validator.
 */
export function checkDecodable(type: string, bytes: Buffer, partial?: Partial): DecodeResult {
  const v: View =
    partial && partial.size > bytes.length
      ? { head: bytes, size: partial.size, tail: partial.tail, whole: false }
      : { head: bytes, size: bytes.length, tail: bytes, whole: true };
  switch (type) {
    case 'text':
      return checkUtf8(bytes);
    case 'png':
      return checkPng(v);
    case 'jpeg':
      return checkJpeg(v);
    case 'gif':
      return checkGif(v);
    case 'wav':
      return checkWav(v);
    default:
      return OK;
  }
}

export function checkUtf8(bytes: Buffer): DecodeResult {
  const at = firstInvalidUtf8(bytes);
  return at < 0 ? OK : bad(`invalid UTF-8 at byte ${at}`);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG uses it). */
export function crc32(b: Uint8Array, start = 0, end = b.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = (CRC_TABLE[(c ^ (b[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const IEND = Buffer.from('0000000049454e44ae426082', 'hex');

function checkPng(v: View): DecodeResult {
  const b = v.head;
  if (b.length < 8 || b.readUInt32BE(0) !== 0x89504e47 || b.readUInt32BE(4) !== 0x0d0a1a0a)
    return bad('no PNG signature');
  if (b.length < 33) return bad('truncated before the end of the IHDR chunk');
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR')
    return bad('the first chunk is not a 13-byte IHDR');
  if (crc32(b, 12, 29) !== b.readUInt32BE(29)) return bad('IHDR CRC mismatch');
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const depth = b[24] as number;
  const color = b[25] as number;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff)
    return bad(`invalid dimensions ${width}×${height}`);
  if (!PNG_DEPTHS[color]?.includes(depth)) return bad(`invalid bit depth ${depth} for colour type ${color}`);
  if (b[26] !== 0 || b[27] !== 0 || (b[28] as number) > 1)
    return bad('invalid compression, filter or interlace method');
  if (!v.whole) return v.tail.includes(IEND) ? OK : bad('no IEND chunk (truncated?)');
  // The whole file: walk every chunk, checking its CRC, up to IEND.
  let pos = 8;
  let idat = false;
  while (pos + 12 <= b.length) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    if (len > 0x7fffffff || pos + 12 + len > b.length)
      return bad(`chunk ${JSON.stringify(type)} at byte ${pos} runs past the end of the file (truncated?)`);
    if (crc32(b, pos + 4, pos + 8 + len) !== b.readUInt32BE(pos + 8 + len))
      return bad(`chunk ${JSON.stringify(type)} at byte ${pos}: CRC mismatch`);
    if (type === 'IDAT') idat = true;
    if (type === 'IEND') return idat ? OK : bad('no IDAT chunk');
    pos += 12 + len;
  }
  return bad('no IEND chunk (truncated?)');
}

/** Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function checkJpeg(v: View): DecodeResult {
  const b = v.head;
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return bad('no JPEG SOI marker');
  let pos = 2;
  let sof = false;
  let scan = false;
  while (pos < b.length) {
    if (b[pos] !== 0xff) return bad(`expected a marker at byte ${pos}`);
    while (pos < b.length && b[pos] === 0xff) pos++;
    if (pos >= b.length) break;
    const m = b[pos] as number;
    pos++;
    if (m === 0xd9) return bad('EOI before any image data');
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
    if (m === 0x00 || m === 0xd8)
      return bad(`invalid marker 0xFF${m.toString(16).toUpperCase().padStart(2, '0')} at byte ${pos - 1}`);
    if (pos + 2 > b.length) break;
    const len = b.readUInt16BE(pos);
    if (len < 2) return bad(`segment at byte ${pos} has length ${len}`);
    if (v.whole && pos + len > b.length)
      return bad(
        `segment 0xFF${m.toString(16).toUpperCase()} at byte ${pos - 2} runs past the end of the file (truncated?)`,
      );
    if (isSof(m)) {
      if (pos + 8 > b.length) break;
      const precision = b[pos + 2] as number;
      const width = b.readUInt16BE(pos + 5);
      const comps = b[pos + 7] as number;
      if (![8, 12, 16].includes(precision) || width === 0 || comps < 1 || comps > 4 || len !== 8 + 3 * comps)
        return bad(`invalid frame header at byte ${pos - 2}`);
      sof = true;
    }
    if (m === 0xda) {
      scan = true;
      break;
    }
    pos += len;
  }
  if (!scan && v.whole) return bad('no start-of-scan marker (truncated?)');
  if (scan && !sof) return bad('no start-of-frame marker before the scan');
  // Decoders tolerate bytes after EOI (some cameras pad files), so EOI may sit before the end.
  const t = v.tail;
  const tailStart = Math.max(0, t.length - 4096);
  for (let i = t.length - 2; i >= tailStart; i--) if (t[i] === 0xff && t[i + 1] === 0xd9) return OK;
  return bad('no EOI marker (truncated?)');
}

function checkGif(v: View): DecodeResult {
  const b = v.head;
  const sig = b.toString('latin1', 0, Math.min(6, b.length));
  if (sig !== 'GIF87a' && sig !== 'GIF89a') return bad('no GIF signature');
  if (b.length < 13) return bad('truncated before the end of the logical screen descriptor');
  const width = b.readUInt16LE(6);
  const height = b.readUInt16LE(8);
  if (width === 0 || height === 0) return bad(`invalid logical screen ${width}×${height}`);
  const packed = b[10] as number;
  let pos = 13 + (packed & 0x80 ? 3 * (2 << (packed & 7)) : 0);
  if (pos > v.size) return bad('global colour table runs past the end of the file (truncated?)');
  if (v.tail[v.tail.length - 1] !== 0x3b) return bad('no trailer byte 0x3B (truncated?)');
  if (!v.whole) return OK;
  // The whole file: walk the blocks, so damage in the middle is found too.
  let images = 0;
  const skipSubBlocks = (): boolean => {
    for (;;) {
      if (pos >= b.length) return false;
      const n = b[pos] as number;
      pos += 1 + n;
      if (n === 0) return true;
    }
  };
  while (pos < b.length) {
    const intro = b[pos] as number;
    if (intro === 0x3b) return images > 0 ? OK : bad('no image in the file');
    if (intro === 0x21) {
      pos += 2;
      if (!skipSubBlocks()) return bad('extension block runs past the end of the file (truncated?)');
    } else if (intro === 0x2c) {
      if (pos + 10 > b.length) break;
      const lp = b[pos + 9] as number;
      pos += 10 + (lp & 0x80 ? 3 * (2 << (lp & 7)) : 0);
      const minCode = b[pos];
      if (minCode === undefined || minCode < 2 || minCode > 11) return bad(`invalid LZW code size at byte ${pos}`);
      pos++;
      if (!skipSubBlocks()) return bad('image data runs past the end of the file (truncated?)');
      images++;
    } else {
      return bad(`unknown block 0x${intro.toString(16).padStart(2, '0')} at byte ${pos}`);
    }
  }
  return bad('image data runs past the end of the file (truncated?)');
}

/**
 * WAV in its three containers: RIFF (little-endian), RIFX (big-endian) and RF64 (64-bit sizes
 * in a leading ds64 chunk, the 32-bit fields set to 0xFFFFFFFF).
 */
function checkWav(v: View): DecodeResult {
  const b = v.head;
  const magic = b.toString('latin1', 0, Math.min(4, b.length));
  if (b.length < 12 || !['RIFF', 'RIFX', 'RF64'].includes(magic) || b.toString('latin1', 8, 12) !== 'WAVE')
    return bad('no RIFF/WAVE header');
  const be = magic === 'RIFX';
  const u32 = (at: number) => (be ? b.readUInt32BE(at) : b.readUInt32LE(at));
  const u16 = (at: number) => (be ? b.readUInt16BE(at) : b.readUInt16LE(at));
  let riff = u32(4) + 8;
  let dataSize64: number | null = null;
  if (magic === 'RF64') {
    if (b.length < 20 + 24 || b.toString('latin1', 12, 16) !== 'ds64' || u32(16) < 24)
      return bad('RF64 without a ds64 chunk');
    riff = u32(20) + u32(24) * 2 ** 32 + 8;
    dataSize64 = u32(28) + u32(32) * 2 ** 32;
  }
  // Bytes after the RIFF chunk (tags some tools append) are tolerated; a short file is not.
  if (riff > v.size) return bad(`the RIFF header promises ${riff} bytes but the file has ${v.size} (truncated?)`);
  // Chunks are bounded by the file, not the RIFF size: writers that get the RIFF size wrong
  // but the chunks right produce files every decoder reads.
  const end = v.size;
  let pos = 12;
  let fmt: { format: number; channels: number; rate: number; byteRate: number; align: number; bits: number } | null =
    null;
  while (pos + 8 <= end) {
    if (pos + 8 > b.length) return OK;
    const id = b.toString('latin1', pos, pos + 4);
    let size = u32(pos + 4);
    if (id === 'data' && dataSize64 !== null && size === 0xffffffff) size = dataSize64;
    const body = pos + 8;
    if (body + size > end)
      return bad(`chunk ${JSON.stringify(id)} at byte ${pos} runs past the end of the file (truncated?)`);
    if (id === 'fmt ') {
      if (size < 16) return bad(`fmt chunk of ${size} bytes (at least 16 expected)`);
      if (body + 16 > b.length) return OK;
      fmt = {
        format: u16(body),
        channels: u16(body + 2),
        rate: u32(body + 4),
        byteRate: u32(body + 8),
        align: u16(body + 12),
        bits: u16(body + 14),
      };
      if (fmt.format === 0 || fmt.channels === 0 || fmt.rate === 0 || fmt.align === 0)
        return bad(
          `fmt chunk is not sane (format ${fmt.format}, ${fmt.channels} channels, ${fmt.rate} Hz, block align ${fmt.align})`,
        );
      // Integer and float PCM (also inside WAVE_FORMAT_EXTENSIBLE) fix the frame arithmetic.
      if (fmt.format === 1 || fmt.format === 3 || fmt.format === 0xfffe) {
        const align = fmt.channels * Math.ceil(fmt.bits / 8);
        if (fmt.bits === 0 || fmt.align !== align || fmt.byteRate !== fmt.rate * fmt.align) {
          return bad(
            `fmt chunk is inconsistent: ${fmt.channels} channels × ${fmt.bits} bits need block align ${align} and ${fmt.rate * align} bytes/s, found ${fmt.align} and ${fmt.byteRate}`,
          );
        }
      }
    } else if (id === 'data') {
      if (!fmt) return bad('data chunk before the fmt chunk');
      return OK;
    }
    pos = body + size + (size & 1);
  }
  return bad(fmt ? 'no data chunk' : 'no fmt chunk');
}
