import { createHash } from 'node:crypto';
import { CairnError } from '../../core/errors.js';

/**
 * Pack file layout (docs/FORMAT.md §Packs):
 *   header  "CAIRNPAK" | version u32be | reserved u32be            16 bytes
 *   blobs   raw bytes, back to back
 *   index   "CAIRNIDX" | count u32be | reserved u32be | entries     16 + 48·count bytes
 *   footer  index offset u64be | index length u32be | reserved u32be | SHA-256(index) | "CAIRNEND"   56 bytes
 * entry := id[32] | offset u64be | length u32be | kind u8 | flags u8 | reserved u16
 * A pack's id (and file name) is SHA-256 of its index bytes: the index lists every blob's own
 * SHA-256, so naming the pack by it commits to the whole content without hashing the data twice.
 */
export const PACK_MAGIC = Buffer.from('CAIRNPAK', 'ascii');
export const INDEX_MAGIC = Buffer.from('CAIRNIDX', 'ascii');
export const END_MAGIC = Buffer.from('CAIRNEND', 'ascii');
export const PACK_VERSION = 1;
export const HEADER_SIZE = 16;
export const INDEX_HEADER_SIZE = 16;
export const ENTRY_SIZE = 48;
export const FOOTER_SIZE = 56;

export const BlobKind = { chunk: 1, tree: 2 } as const;
export type BlobKindCode = (typeof BlobKind)[keyof typeof BlobKind];

export interface PackEntry {
  /** SHA-256 of the blob bytes, lowercase hex. */
  id: string;
  offset: number;
  length: number;
  kind: BlobKindCode;
}

export function encodeHeader(): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  PACK_MAGIC.copy(b, 0);
  b.writeUInt32BE(PACK_VERSION, 8);
  return b;
}

export function encodeIndex(entries: readonly PackEntry[]): Buffer {
  const b = Buffer.alloc(INDEX_HEADER_SIZE + ENTRY_SIZE * entries.length);
  INDEX_MAGIC.copy(b, 0);
  b.writeUInt32BE(entries.length, 8);
  let o = INDEX_HEADER_SIZE;
  for (const e of entries) {
    b.write(e.id, o, 32, 'hex');
    b.writeBigUInt64BE(BigInt(e.offset), o + 32);
    b.writeUInt32BE(e.length, o + 40);
    b.writeUInt8(e.kind, o + 44);
    o += ENTRY_SIZE;
  }
  return b;
}

export function encodeFooter(indexOffset: number, index: Buffer): { footer: Buffer; packId: string } {
  const digest = createHash('sha256').update(index).digest();
  const b = Buffer.alloc(FOOTER_SIZE);
  b.writeBigUInt64BE(BigInt(indexOffset), 0);
  b.writeUInt32BE(index.length, 8);
  digest.copy(b, 16);
  END_MAGIC.copy(b, 48);
  return { footer: b, packId: digest.toString('hex') };
}

export function checkHeader(header: Buffer, packId: string): void {
  if (header.length < HEADER_SIZE || !header.subarray(0, 8).equals(PACK_MAGIC)) {
    throw corrupt(packId, 'bad header magic');
  }
  const version = header.readUInt32BE(8);
  if (version !== PACK_VERSION) {
    throw new CairnError(
      'UNSUPPORTED',
      `pack ${packId} has format version ${version}; this Cairn reads version ${PACK_VERSION}`,
      {
        data: { pack: packId, version },
        hint: 'upgrade Cairn',
      },
    );
  }
}

export interface ParsedFooter {
  indexOffset: number;
  indexLength: number;
  indexDigest: string;
}

export function parseFooter(footer: Buffer, packId: string, fileSize: number): ParsedFooter {
  if (footer.length !== FOOTER_SIZE || !footer.subarray(48).equals(END_MAGIC))
    throw corrupt(packId, 'bad footer magic');
  const indexOffset = Number(footer.readBigUInt64BE(0));
  const indexLength = footer.readUInt32BE(8);
  if (indexOffset < HEADER_SIZE || indexOffset + indexLength + FOOTER_SIZE !== fileSize) {
    throw corrupt(packId, 'footer does not match the file size');
  }
  return { indexOffset, indexLength, indexDigest: footer.subarray(16, 48).toString('hex') };
}

/** Decodes and fully checks an index: digest, magic, bounds, ordering, no overlaps. */
export function decodeIndex(index: Buffer, packId: string, indexOffset: number, expectedDigest?: string): PackEntry[] {
  const digest = createHash('sha256').update(index).digest('hex');
  if (expectedDigest !== undefined && digest !== expectedDigest)
    throw corrupt(packId, 'index digest does not match the footer');
  if (digest !== packId) throw corrupt(packId, 'index digest does not match the pack name');
  if (index.length < INDEX_HEADER_SIZE || !index.subarray(0, 8).equals(INDEX_MAGIC))
    throw corrupt(packId, 'bad index magic');
  const count = index.readUInt32BE(8);
  if (index.length !== INDEX_HEADER_SIZE + count * ENTRY_SIZE)
    throw corrupt(packId, 'index length does not match its count');
  const entries: PackEntry[] = [];
  let end = HEADER_SIZE;
  for (let i = 0, o = INDEX_HEADER_SIZE; i < count; i++, o += ENTRY_SIZE) {
    const id = index.toString('hex', o, o + 32);
    const offset = Number(index.readBigUInt64BE(o + 32));
    const length = index.readUInt32BE(o + 40);
    const kind = index.readUInt8(o + 44);
    if (kind !== BlobKind.chunk && kind !== BlobKind.tree) throw corrupt(packId, `entry ${i} has unknown kind ${kind}`);
    if (offset < end || offset + length > indexOffset)
      throw corrupt(packId, `entry ${i} lies outside the blob area or overlaps`);
    end = offset + length;
    entries.push({ id, offset, length, kind });
  }
  return entries;
}

function corrupt(packId: string, why: string): CairnError {
  return new CairnError('CORRUPT_OBJECT', `pack ${packId} is corrupt: ${why}`, { data: { pack: packId } });
}
