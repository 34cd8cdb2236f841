import { describe, expect, it } from 'vitest';
import { CairnError } from '../../core/errors.js';
import {
  BlobKind,
  checkHeader,
  decodeIndex,
  encodeFooter,
  encodeHeader,
  encodeIndex,
  ENTRY_SIZE,
  FOOTER_SIZE,
  HEADER_SIZE,
  INDEX_HEADER_SIZE,
  parseFooter,
  type PackEntry,
} from './format.js';
import { sha256Hex as sha } from '../../core/digest.js';

function caught(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

/** Decodes an index named, as a real pack would be, by its own digest. */
function decodeSelfNamed(index: Buffer, indexOffset: number): PackEntry[] {
  return decodeIndex(index, sha(index), indexOffset);
}

function expectCorrupt(fn: () => unknown, why: string): void {
  const err = caught(fn);
  expect(err.code).toBe('CORRUPT_OBJECT');
  expect(err.message).toContain(why);
}

const entries: PackEntry[] = [
  { id: sha('a'), offset: 16, length: 1, kind: BlobKind.chunk },
  { id: sha('tree'), offset: 17, length: 4, kind: BlobKind.tree },
  { id: sha(''), offset: 21, length: 0, kind: BlobKind.chunk },
  { id: sha('big'), offset: 21, length: 0xffff_ffff, kind: BlobKind.chunk },
];
const INDEX_OFFSET = 21 + 0xffff_ffff;

describe('pack format: encoding', () => {
  it('writes the header as magic, version 1 and a zero reserved word', () => {
    expect(encodeHeader().toString('hex')).toBe(Buffer.from('CAIRNPAK').toString('hex') + '00000001' + '00000000');
    expect(encodeHeader().length).toBe(HEADER_SIZE);
  });

  it('writes 48-byte index entries: id, u64 offset, u32 length, kind, zero flags and reserved', () => {
    const index = encodeIndex(entries);
    expect(index.length).toBe(INDEX_HEADER_SIZE + ENTRY_SIZE * entries.length);
    expect(index.subarray(0, 16).toString('hex')).toBe(
      Buffer.from('CAIRNIDX').toString('hex') + '00000004' + '00000000',
    );
    const second = index.subarray(16 + ENTRY_SIZE, 16 + 2 * ENTRY_SIZE);
    expect(second.toString('hex')).toBe(sha('tree') + '0000000000000011' + '00000004' + '02' + '00' + '0000');
  });

  it('writes the footer with index offset, length, SHA-256(index) and end magic; the pack id is that digest', () => {
    const index = encodeIndex(entries);
    const { footer, packId } = encodeFooter(INDEX_OFFSET, index);
    expect(footer.length).toBe(FOOTER_SIZE);
    expect(packId).toBe(sha(index));
    expect(footer.toString('hex')).toBe(
      INDEX_OFFSET.toString(16).padStart(16, '0') +
        index.length.toString(16).padStart(8, '0') +
        '00000000' +
        sha(index) +
        Buffer.from('CAIRNEND').toString('hex'),
    );
  });

  it('round-trips header, index and footer, including offsets beyond 4 GiB', () => {
    const index = encodeIndex(entries);
    const { footer, packId } = encodeFooter(INDEX_OFFSET, index);
    const fileSize = INDEX_OFFSET + index.length + FOOTER_SIZE;
    checkHeader(encodeHeader(), packId);
    expect(parseFooter(footer, packId, fileSize)).toEqual({
      indexOffset: INDEX_OFFSET,
      indexLength: index.length,
      indexDigest: packId,
    });
    expect(decodeIndex(index, packId, INDEX_OFFSET, packId)).toEqual(entries);
    // An empty pack is valid too.
    const empty = encodeIndex([]);
    expect(decodeIndex(empty, sha(empty), HEADER_SIZE)).toEqual([]);
  });
});

describe('pack format: every corruption is detected', () => {
  const index = encodeIndex(entries);
  const packId = sha(index);

  it('bad header magic is CORRUPT_OBJECT; a short header too', () => {
    const h = encodeHeader();
    h[0] = 0x58;
    const err = caught(() => checkHeader(h, packId));
    expect(err.code).toBe('CORRUPT_OBJECT');
    expect(err.message).toBe(`pack ${packId} is corrupt: bad header magic`);
    expect(err.data).toEqual({ pack: packId });
    expectCorrupt(() => checkHeader(encodeHeader().subarray(0, 8), packId), 'bad header magic');
  });

  it('another format version is UNSUPPORTED, naming the version', () => {
    const h = encodeHeader();
    h.writeUInt32BE(2, 8);
    const err = caught(() => checkHeader(h, packId));
    expect(err.code).toBe('UNSUPPORTED');
    expect(err.data).toEqual({ pack: packId, version: 2 });
    h.writeUInt32BE(0, 8);
    expect(caught(() => checkHeader(h, packId)).code).toBe('UNSUPPORTED');
  });

  it('a footer with bad magic, or that does not add up to the file size, is corrupt', () => {
    const { footer } = encodeFooter(INDEX_OFFSET, index);
    const size = INDEX_OFFSET + index.length + FOOTER_SIZE;
    const badEnd = Buffer.from(footer);
    badEnd[55] = badEnd[55]! ^ 1;
    expectCorrupt(() => parseFooter(badEnd, packId, size), 'bad footer magic');
    expectCorrupt(() => parseFooter(footer.subarray(1), packId, size), 'bad footer magic');
    expectCorrupt(() => parseFooter(footer, packId, size + 1), 'footer does not match the file size');
    expectCorrupt(() => parseFooter(footer, packId, size - 1), 'footer does not match the file size');
    // An index offset inside the header cannot be right even if the sizes add up.
    const { footer: early } = encodeFooter(8, index);
    expectCorrupt(
      () => parseFooter(early, packId, 8 + index.length + FOOTER_SIZE),
      'footer does not match the file size',
    );
  });

  it('an index whose digest differs from the pack name or from the footer is corrupt', () => {
    const tampered = Buffer.from(index);
    tampered[20] = tampered[20]! ^ 1; // inside the first entry's id
    expectCorrupt(() => decodeIndex(tampered, packId, INDEX_OFFSET), 'index digest does not match the pack name');
    expectCorrupt(() => decodeIndex(index, sha('other'), INDEX_OFFSET), 'index digest does not match the pack name');
    expectCorrupt(
      () => decodeIndex(index, packId, INDEX_OFFSET, sha('footer says otherwise')),
      'index digest does not match the footer',
    );
  });

  // The remaining defects are in indexes whose name does match their digest: what a buggy or
  // malicious writer would produce, which the digest alone cannot catch.
  it('bad index magic or a count that disagrees with the length is corrupt', () => {
    const badMagic = Buffer.from(index);
    badMagic.write('CAIRNIDY', 0, 'ascii');
    expectCorrupt(() => decodeSelfNamed(badMagic, INDEX_OFFSET), 'bad index magic');
    expectCorrupt(() => decodeSelfNamed(Buffer.alloc(8), INDEX_OFFSET), 'bad index magic');
    const badCount = Buffer.from(index);
    badCount.writeUInt32BE(5, 8);
    expectCorrupt(() => decodeSelfNamed(badCount, INDEX_OFFSET), 'index length does not match its count');
    expectCorrupt(
      () => decodeSelfNamed(index.subarray(0, index.length - 1), INDEX_OFFSET),
      'index length does not match its count',
    );
  });

  it('an unknown blob kind is corrupt', () => {
    for (const kind of [0, 3, 255]) {
      const bad = encodeIndex([{ id: sha('a'), offset: 16, length: 1, kind: kind as 1 }]);
      expectCorrupt(() => decodeSelfNamed(bad, 17), `entry 0 has unknown kind ${kind}`);
    }
  });

  it('entries before the header, past the index, overlapping or out of order are corrupt', () => {
    const e = (offset: number, length: number, label = `${offset}/${length}`): PackEntry => ({
      id: sha(label),
      offset,
      length,
      kind: BlobKind.chunk,
    });
    const cases: Array<[PackEntry[], number, string]> = [
      [[e(0, 4)], 100, 'entry 0'], // inside the header
      [[e(15, 4)], 100, 'entry 0'],
      [[e(16, 85)], 100, 'entry 0'], // runs into the index
      [[e(100, 1)], 100, 'entry 0'],
      [[e(16, 10), e(25, 10)], 100, 'entry 1'], // overlaps its predecessor
      [[e(50, 10), e(16, 10)], 100, 'entry 1'], // out of order
      [[e(16, 10), e(26, 10), e(30, 1)], 100, 'entry 2'],
    ];
    for (const [list, indexOffset, which] of cases) {
      expectCorrupt(
        () => decodeSelfNamed(encodeIndex(list), indexOffset),
        `${which} lies outside the blob area or overlaps`,
      );
    }
    // Touching is fine: the last blob may end exactly at the index.
    expect(decodeSelfNamed(encodeIndex([e(16, 10), e(26, 74)]), 100)).toHaveLength(2);
  });
});
