import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDecodable, crc32 } from './decode.js';
import { firstInvalidUtf8, Utf8Validator } from './utf8.js';

const TESTDATA = new URL('./testdata/', import.meta.url).pathname;
const VEGA = join(process.cwd(), 'node_modules/vega-datasets/data');
const png = readFileSync(join(VEGA, 'gimp.png'));
const jpeg = readFileSync(join(TESTDATA, 'python.jpg'));
const gif = readFileSync(join(TESTDATA, 'python.gif'));
const wav = readFileSync(join(TESTDATA, 'pluck-pcm16.wav'));
const wavExt = readFileSync(join(TESTDATA, 'pluck-pcm24-ext.wav'));

const patched = (b: Buffer, at: number, bytes: number[]) => {
  const c = Buffer.from(b);
  bytes.forEach((x, i) => (c[at + i] = x));
  return c;
};

describe('checkDecodable', () => {
  it('accepts real PNG, JPEG, GIF and WAV files', () => {
    for (const f of ['7zip.png', 'ffox.png', 'gimp.png'])
      expect(checkDecodable('png', readFileSync(join(VEGA, f)))).toEqual({ ok: true });
    expect(checkDecodable('jpeg', jpeg)).toEqual({ ok: true });
    expect(checkDecodable('gif', gif)).toEqual({ ok: true });
    expect(checkDecodable('wav', wav)).toEqual({ ok: true });
    expect(checkDecodable('wav', wavExt)).toEqual({ ok: true });
    expect(checkDecodable('pdf', Buffer.from('%PDF-1.7'))).toEqual({ ok: true });
  });

  it('finds damaged PNGs', () => {
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
    expect(checkDecodable('png', png.subarray(0, 20))).toEqual({
      ok: false,
      reason: 'truncated before the end of the IHDR chunk',
    });
    expect(checkDecodable('png', patched(png, 17, [0x99]))).toEqual({ ok: false, reason: 'IHDR CRC mismatch' });
    expect(checkDecodable('png', patched(png, 0, [0x88]))).toEqual({ ok: false, reason: 'no PNG signature' });
    // A flipped byte inside the image data breaks that chunk's CRC.
    expect(checkDecodable('png', patched(png, png.length - 40, [png[png.length - 40]! ^ 0xff]))).toEqual({
      ok: false,
      reason: expect.stringMatching(/^chunk "IDAT" at byte \d+: CRC mismatch$/),
    });
    expect(checkDecodable('png', png.subarray(0, png.length - 12))).toEqual({
      ok: false,
      reason: 'no IEND chunk (truncated?)',
    });
    expect(checkDecodable('png', png.subarray(0, png.length - 100))).toEqual({
      ok: false,
      reason: expect.stringMatching(/^chunk "IDAT" at byte \d+ runs past the end of the file \(truncated\?\)$/),
    });
  });

  it('finds damaged JPEGs', () => {
    expect(checkDecodable('jpeg', jpeg.subarray(0, jpeg.length - 2))).toEqual({
      ok: false,
      reason: 'no EOI marker (truncated?)',
    });
    expect(checkDecodable('jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toEqual({
      ok: false,
      reason: 'EOI before any image data',
    });
    expect(checkDecodable('jpeg', jpeg.subarray(0, 0x90))).toEqual({
      ok: false,
      reason: 'segment 0xFFDB at byte 89 runs past the end of the file (truncated?)',
    });
    // SOF0 (at byte 0x9e) turned into an APP segment: the scan has no frame.
    expect(checkDecodable('jpeg', patched(jpeg, 0x9f, [0xe1]))).toEqual({
      ok: false,
      reason: 'no start-of-frame marker before the scan',
    });
    expect(checkDecodable('jpeg', patched(jpeg, 0xa2, [0x07]))).toEqual({
      ok: false,
      reason: 'invalid frame header at byte 158',
    });
  });

  it('finds damaged GIFs', () => {
    expect(checkDecodable('gif', gif.subarray(0, gif.length - 1))).toEqual({
      ok: false,
      reason: 'no trailer byte 0x3B (truncated?)',
    });
    expect(checkDecodable('gif', gif.subarray(0, 10))).toEqual({
      ok: false,
      reason: 'truncated before the end of the logical screen descriptor',
    });
    expect(checkDecodable('gif', patched(gif, 6, [0, 0]))).toEqual({
      ok: false,
      reason: 'invalid logical screen 0×16',
    });
    // Cut in the middle and re-terminated: the block walk runs off the image data.
    expect(checkDecodable('gif', Buffer.concat([gif.subarray(0, 300), Buffer.from([0x3b])]))).toEqual({
      ok: false,
      reason: 'image data runs past the end of the file (truncated?)',
    });
  });

  it('finds damaged WAVs', () => {
    expect(checkDecodable('wav', wav.subarray(0, 1000))).toEqual({
      ok: false,
      reason: `the RIFF header promises ${wav.readUInt32LE(4) + 8} bytes but the file has 1000 (truncated?)`,
    });
    // Block align 4 (2 channels × 16 bits) changed to 3.
    expect(checkDecodable('wav', patched(wav, 32, [3]))).toEqual({
      ok: false,
      reason: 'fmt chunk is inconsistent: 2 channels × 16 bits need block align 4 and 44100 bytes/s, found 3 and 44100',
    });
    expect(checkDecodable('wav', patched(wav, 22, [0]))).toEqual({
      ok: false,
      reason: 'fmt chunk is not sane (format 1, 0 channels, 11025 Hz, block align 4)',
    });
    expect(checkDecodable('wav', patched(wav, 12, [...Buffer.from('junk')]))).toEqual({
      ok: false,
      reason: 'data chunk before the fmt chunk',
    });
    const dataAt = wav.indexOf('data');
    const grown = Buffer.from(wav);
    grown.writeUInt32LE(wav.readUInt32LE(dataAt + 4) + 2, dataAt + 4);
    expect(checkDecodable('wav', grown)).toEqual({
      ok: false,
      reason: `chunk "data" at byte ${dataAt} runs past the end of the file (truncated?)`,
    });
  });

  it('judges a large file from its head and tail', () => {
    const tail = png.subarray(png.length - 64);
    expect(checkDecodable('png', png.subarray(0, 40), { size: png.length, tail })).toEqual({ ok: true });
    expect(checkDecodable('png', png.subarray(0, 40), { size: png.length, tail: tail.subarray(0, 50) })).toEqual({
      ok: false,
      reason: 'no IEND chunk (truncated?)',
    });
    expect(
      checkDecodable('jpeg', jpeg.subarray(0, 400), { size: jpeg.length, tail: jpeg.subarray(jpeg.length - 16) }),
    ).toEqual({ ok: true });
    expect(
      checkDecodable('gif', gif.subarray(0, 20), { size: gif.length, tail: gif.subarray(gif.length - 4) }),
    ).toEqual({ ok: true });
  });

  it('checks UTF-8 strictly and says where it breaks', () => {
    expect(checkDecodable('text', Buffer.from('naïve ☕ 😀\n'))).toEqual({ ok: true });
    expect(checkDecodable('text', Buffer.from('caf\xe9\n', 'latin1'))).toEqual({
      ok: false,
      reason: 'invalid UTF-8 at byte 3',
    });
  });
});

describe('UTF-8 validation', () => {
  it('rejects what TextDecoder in fatal mode rejects', () => {
    const cases: Array<[number[], number]> = [
      [[0x41, 0xc0, 0x80], 1], // overlong NUL
      [[0xe0, 0x80, 0xaf], 0], // overlong
      [[0xed, 0xa0, 0x80], 0], // surrogate
      [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
      [[0xf8, 0x88, 0x80, 0x80, 0x80], 0],
      [[0x61, 0x80], 1], // lone continuation
      [[0x61, 0xe2, 0x82], 1], // cut off
      [[0xf0, 0x9f, 0x98, 0x80, 0x61], -1],
    ];
    const fatal = new TextDecoder('utf-8', { fatal: true });
    for (const [bytes, at] of cases) {
      const b = Uint8Array.from(bytes);
      expect([bytes, firstInvalidUtf8(b)]).toEqual([bytes, at]);
      let threw = false;
      try {
        fatal.decode(b);
      } catch {
        threw = true;
      }
      expect(threw).toBe(at >= 0);
    }
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xe2, 0x82]), true)).toBe(-1);
  });

  it('validates across pieces, wherever a character is cut', () => {
    const text = Buffer.from('é☕😀'.repeat(50));
    for (const size of [1, 2, 3, 5, 7]) {
      const v = new Utf8Validator();
      for (let i = 0; i < text.length; i += size) v.push(text.subarray(i, i + size));
      expect(v.end()).toBe(-1);
    }
    const bad = Buffer.concat([text, Buffer.from([0xe2, 0x28, 0xa1]), text]);
    const v = new Utf8Validator();
    for (let i = 0; i < bad.length; i += 4) v.push(bad.subarray(i, i + 4));
    expect(v.end()).toBe(text.length);
    const cut = new Utf8Validator();
    cut.push(text);
    cut.push(Buffer.from([0xf0, 0x9f]));
    expect(cut.end()).toBe(text.length);
  });
});
