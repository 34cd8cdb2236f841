import { extname } from 'node:path';
import { isUtf8Head } from './utf8.js';

/**
 * File types by content (magic bytes) and by extension. Content wins: a `.png` holding a
 * JPEG is a JPEG with a wrong name, which is what the `types` check reports.
 */
export type FileType =
  | 'png'
  | 'jpeg'
  | 'gif'
  | 'wav'
  | 'webp'
  | 'pdf'
  | 'zip'
  | 'gzip'
  | 'parquet'
  | 'flac'
  | 'mp3'
  | 'ogg'
  | 'bmp'
  | 'tiff'
  | 'text';

/** How many leading bytes detectType looks at; more is harmless. */
export const DETECT_BYTES = 4096;

const ascii = (b: Buffer, at: number, s: string) =>
  b.length >= at + s.length && b.toString('latin1', at, at + s.length) === s;

/** The type of a file from its first bytes (DETECT_BYTES suffice), or null when unrecognized. */
export function detectType(head: Buffer): FileType | null {
  const b = head;
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'gif';
  if ((ascii(b, 0, 'RIFF') || ascii(b, 0, 'RIFX') || ascii(b, 0, 'RF64')) && ascii(b, 8, 'WAVE')) return 'wav';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'webp';
  if (ascii(b, 0, '%PDF-')) return 'pdf';
  if (
    ascii(b, 0, 'PK') &&
    b.length >= 4 &&
    ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6) || (b[2] === 7 && b[3] === 8))
  )
    return 'zip';
  if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8) return 'gzip';
  if (ascii(b, 0, 'PAR1')) return 'parquet';
  if (ascii(b, 0, 'fLaC')) return 'flac';
  if (ascii(b, 0, 'OggS')) return 'ogg';
  if (ascii(b, 0, 'II*\0') || ascii(b, 0, 'MM\0*')) return 'tiff';
  if (isBmp(b)) return 'bmp';
  if (ascii(b, 0, 'ID3') || isMpegFrame(b)) return 'mp3';
  if (!b.includes(0) && isUtf8Head(b)) return 'text';
  return null;
}

/** "BM" alone starts too many texts; the DIB header size must be one of the known ones. */
function isBmp(b: Buffer): boolean {
  if (b.length < 18 || !ascii(b, 0, 'BM')) return false;
  return [12, 40, 52, 56, 64, 108, 124].includes(b.readUInt32LE(14));
}

/** An MPEG audio frame header: 11 sync bits, a real layer, bitrate and sample-rate index. */
function isMpegFrame(b: Buffer): boolean {
  if (b.length < 4) return false;
  const b1 = b[1] as number;
  const b2 = b[2] as number;
  return (
    b[0] === 0xff &&
    (b1 & 0xe0) === 0xe0 &&
    ((b1 >> 3) & 3) !== 1 &&
    ((b1 >> 1) & 3) !== 0 &&
    b2 >> 4 !== 15 &&
    ((b2 >> 2) & 3) !== 3
  );
}

const BY_EXTENSION: Record<string, FileType> = {};
const extensions: Array<[FileType, string[]]> = [
  ['png', ['.png']],
  ['jpeg', ['.jpg', '.jpeg', '.jpe', '.jfif']],
  ['gif', ['.gif']],
  ['wav', ['.wav', '.wave']],
  ['webp', ['.webp']],
  ['pdf', ['.pdf']],
  // Office documents, Java archives and e-books are ZIP containers.
  ['zip', ['.zip', '.docx', '.xlsx', '.pptx', '.odt', '.ods', '.odp', '.jar', '.epub', '.whl', '.npz']],
  ['gzip', ['.gz', '.tgz']],
  ['parquet', ['.parquet']],
  ['flac', ['.flac']],
  ['mp3', ['.mp3']],
  ['ogg', ['.ogg', '.oga', '.ogv', '.opus']],
  ['bmp', ['.bmp', '.dib']],
  ['tiff', ['.tif', '.tiff']],
  [
    'text',
    [
      '.txt',
      '.text',
      '.md',
      '.markdown',
      '.rst',
      '.csv',
      '.tsv',
      '.tab',
      '.json',
      '.jsonl',
      '.ndjson',
      '.xml',
      '.html',
      '.htm',
      '.yaml',
      '.yml',
      '.toml',
      '.ini',
      '.cfg',
      '.conf',
      '.log',
      '.eml',
      '.srt',
      '.vtt',
      '.svg',
      '.tex',
      '.sql',
      '.py',
      '.js',
      '.mjs',
      '.ts',
      '.java',
      '.c',
      '.h',
      '.cpp',
      '.hpp',
      '.go',
      '.rs',
      '.rb',
      '.sh',
      '.r',
    ],
  ],
];
for (const [type, exts] of extensions) for (const e of exts) BY_EXTENSION[e] = type;

/** The file's extension, lower-cased with its dot (`.txt`), or '' when it has none. */
export function extensionOf(path: string): string {
  return extname(path.slice(path.lastIndexOf('/') + 1)).toLowerCase();
}

/** The type a file's extension promises, or null when the extension makes no promise. */
export function expectedType(path: string): FileType | null {
  return BY_EXTENSION[extensionOf(path)] ?? null;
}

/**
 * Binary by the usual heuristic: a NUL byte, or more than 10% control characters other than
 * tab, newline, form feed, carriage return and escape. Text in a legacy encoding (Latin-1,
 * GB2312) is not binary: it is text that fails the UTF-8 decodability check instead.
 */
export function looksBinary(head: Buffer): boolean {
  let control = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i] as number;
    if (c === 0) return true;
    if ((c < 32 && c !== 9 && c !== 10 && c !== 12 && c !== 13 && c !== 27) || c === 127) control++;
  }
  return control * 10 > head.length;
}

/**
 * Why a file's content contradicts its extension, or null when it does not: a binary format
 * under another format's extension (`.png` holding a JPEG), binary content under a text
 * extension, text or unrecognized bytes under a binary extension, or an empty binary file.
 * An extension that promises nothing (`.dat`, none) is never contradicted. Pass `detected`
 * when detectType(head) is already known.
 */
export function typeMismatch(path: string, head: Buffer, detected: FileType | null = detectType(head)): string | null {
  const expected = expectedType(path);
  if (expected === null) return null;
  const ext = extensionOf(path);
  if (expected === 'text') {
    if (detected === 'text') return null;
    if (detected !== null) return `extension ${ext} but the content is ${detected}`;
    return looksBinary(head) ? `extension ${ext} but the content is binary` : null;
  }
  if (head.length === 0) return `extension ${ext} but the file is empty`;
  if (detected === expected) return null;
  if (detected === null) return `extension ${ext} but the content is not ${expected}`;
  return `extension ${ext} but the content is ${detected}`;
}
