import type { StatCacheData, StatCacheToSave, StatEntries, StatEntry } from './stat-cache.js';

/**
 * The stat cache on disk (format 4, docs/FORMAT.md §7): a JSON header, then one record per
 * directory holding the directory's own stat values, its files (stat values, digest, chunks),
 * symlinks and subdirectory names. Grouping by directory lets `status` hand whole directories
 * to workers that compare the disk with the record without turning a single row into a
 * JavaScript object, and a fixed layout lets a status that re-hashed touched files patch their
 * stat values in place. The directory's stat (taken before it was listed) lets `status` skip
 * listing a directory whose entries cannot have changed (git's untracked cache).
 *
 *   "CRNSTAT4" · u32 header length · header JSON {root, scannedAtMs, version?, meta?}
 *   record*: u32 length of the rest · u8 listed (1: a directory of the version) ·
 *            u32 path length · path · f64 dir ino · f64 dir mtimeMs · f64 dir ctimeMs
 *            (-1 each: unknown) · u32 entry count · entry*
 *   entry:   u8 kind (0 file, 1 symlink, 2 directory) · u16 name length · name ·
 *            file: f64 ino · f64 size · f64 mtimeMs · f64 ctimeMs · u8 exec · 32 B digest ·
 *                  u32 chunk count (0: the one-chunk/empty shorthand) · 32 B per chunk
 *            symlink: u32 target length · target
 *   trailer: "CRNEND3\0" · u32 record count (a file cut short anywhere is refused whole: a
 *            missing record would otherwise hide its directory's changes)
 * All integers little-endian; text UTF-8. Format 3 ("CRNSTAT3") is the same without the
 * directory's stat; it is still read (its directories are always listed).
 */
export const MAGIC = Buffer.from('CRNSTAT4', 'latin1');
export const MAGIC_V3 = Buffer.from('CRNSTAT3', 'latin1');
const TRAILER = Buffer.from('CRNEND3\0', 'latin1');
/** The trailer's size: its magic and the record count. */
export const TRAILER_BYTES = 12;

export const KIND_FILE = 0;
export const KIND_LINK = 1;
export const KIND_DIR = 2;

/** Bytes from a file entry's stat fields to its digest (ino, size, mtime, ctime, exec). */
export const STAT_BYTES = 8 * 4 + 1;

export interface CacheHeader {
  root: string;
  scannedAtMs: number;
  version?: string;
  meta?: Record<string, unknown>;
}

/** A directory record's place in the buffer. */
export interface RecordRef {
  offset: number;
  end: number;
  path: string;
  /** Where the entry count starts. */
  entriesAt: number;
  /** Where the directory's own stat values start (ino, mtimeMs, ctimeMs); -1 in format 3. */
  dirAt: number;
}

/** A directory's own stat values as recorded; -1 each when unknown (never matches). */
export interface DirStat {
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

export const UNKNOWN_DIR: DirStat = { ino: -1, mtimeMs: -1, ctimeMs: -1 };

const DIR_STAT_BYTES = 24;

interface Folder {
  listed: boolean;
  files: string[];
  links: Array<[string, string]>;
  dirs: string[];
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** The cache as buffers, one per directory record; no per-file copy of the entries is made. */
export function* encodeStatCache(data: StatCacheToSave): Generator<Buffer> {
  const header: CacheHeader = {
    root: data.root,
    scannedAtMs: data.scannedAtMs,
    ...(data.version ? { version: data.version } : {}),
    ...(data.meta ? { meta: data.meta } : {}),
  };
  yield encodeHeader(header);

  const folders = new Map<string, Folder>();
  const folder = (path: string): Folder => {
    let f = folders.get(path);
    if (!f) {
      f = { listed: false, files: [], links: [], dirs: [] };
      folders.set(path, f);
      if (path !== '') folder(parentOf(path)).dirs.push(path.slice(path.lastIndexOf('/') + 1));
    }
    return f;
  };
  folder('');
  if (data.version) {
    for (const d of data.dirs ?? []) folder(d).listed = true;
    for (const l of data.links ?? []) folder(parentOf(l[0])).links.push(l);
  }
  for (const p of data.entries.keys()) folder(parentOf(p)).files.push(p);

  for (const [path, f] of folders) yield encodeRecord(path, f, data.entries);
  yield encodeTrailer(folders.size);
}

function encodeRecord(path: string, f: Folder, entries: StatEntries): Buffer {
  const nameOf = (p: string) => (path === '' ? p : p.slice(path.length + 1));
  // A cache rebuilt from a full walk has no directory stat taken before its listing: unknown.
  return encodeFolderRecord(
    path,
    f.listed,
    UNKNOWN_DIR,
    f.files.map((p) => [nameOf(p), entries.get(p)!] as [string, StatEntry]),
    f.links.map(([p, t]) => [nameOf(p), t] as [string, string]),
    f.dirs,
  );
}

/**
 * One directory's record: its own stat (taken before it was listed, else UNKNOWN_DIR), its files
 * (by name), symlinks and subdirectory names.
 */
export function encodeFolderRecord(
  path: string,
  listed: boolean,
  dir: DirStat,
  files: ReadonlyArray<readonly [name: string, entry: StatEntry]>,
  links: ReadonlyArray<readonly [name: string, target: string]>,
  dirs: readonly string[],
): Buffer {
  const pathBytes = Buffer.byteLength(path, 'utf8');
  let size = 4 + 1 + 4 + pathBytes + DIR_STAT_BYTES + 4;
  for (const [n, e] of files)
    size += 1 + 2 + Buffer.byteLength(n, 'utf8') + STAT_BYTES + 32 + 4 + 32 * (e.chunks?.length ?? 0);
  for (const [n, t] of links) size += 1 + 2 + Buffer.byteLength(n, 'utf8') + 4 + Buffer.byteLength(t, 'utf8');
  for (const n of dirs) size += 1 + 2 + Buffer.byteLength(n, 'utf8');
  const b = Buffer.allocUnsafe(size);
  let o = b.writeUInt32LE(size - 4, 0);
  o = b.writeUInt8(listed ? 1 : 0, o);
  o = b.writeUInt32LE(pathBytes, o);
  o += b.write(path, o, 'utf8');
  o = b.writeDoubleLE(dir.ino, o);
  o = b.writeDoubleLE(dir.mtimeMs, o);
  o = b.writeDoubleLE(dir.ctimeMs, o);
  o = b.writeUInt32LE(files.length + links.length + dirs.length, o);
  const name = (kind: number, n: string) => {
    o = b.writeUInt8(kind, o);
    const len = b.write(n, o + 2, 'utf8');
    b.writeUInt16LE(len, o);
    o += 2 + len;
  };
  for (const [n, e] of files) {
    name(KIND_FILE, n);
    o = b.writeDoubleLE(e.ino, o);
    o = b.writeDoubleLE(e.size, o);
    o = b.writeDoubleLE(e.mtimeMs, o);
    o = b.writeDoubleLE(e.ctimeMs, o);
    o = b.writeUInt8(e.mode === '755' ? 1 : 0, o);
    o += b.write(e.digest, o, 'hex');
    o = b.writeUInt32LE(e.chunks?.length ?? 0, o);
    for (const c of e.chunks ?? []) o += b.write(c, o, 'hex');
  }
  for (const [n, t] of links) {
    name(KIND_LINK, n);
    const len = b.write(t, o + 4, 'utf8');
    b.writeUInt32LE(len, o);
    o += 4 + len;
  }
  for (const n of dirs) name(KIND_DIR, n);
  if (o !== size) throw new Error(`stat cache record size ${o} ≠ ${size}`);
  return b;
}

/** The trailer closing a cache of `records` directory records. */
export function encodeTrailer(records: number): Buffer {
  const end = Buffer.alloc(TRAILER.length + 4);
  TRAILER.copy(end, 0);
  end.writeUInt32LE(records, TRAILER.length);
  return end;
}

/** Magic and header; `padTo` pads the JSON with spaces to that many bytes (JSON allows them). */
export function encodeHeader(header: CacheHeader, padTo = 0): Buffer {
  const json = JSON.stringify(header);
  const len = Math.max(Buffer.byteLength(json, 'utf8'), padTo);
  const b = Buffer.alloc(MAGIC.length + 4 + len, 0x20);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(len, MAGIC.length);
  b.write(json, MAGIC.length + 4, 'utf8');
  return b;
}

export class StatCacheFormatError extends Error {}

function need(ok: boolean, why: string): void {
  if (!ok) throw new StatCacheFormatError(why);
}

/** The header and the start of the records; throws StatCacheFormatError on anything malformed. */
export function readHeader(b: Buffer): { header: CacheHeader; recordsAt: number; format: 3 | 4 } {
  need(b.length >= MAGIC.length + 4, 'not a binary stat cache');
  const magic = b.subarray(0, MAGIC.length);
  const format = magic.equals(MAGIC) ? 4 : magic.equals(MAGIC_V3) ? 3 : 0;
  need(format !== 0, 'not a format-3 or format-4 stat cache');
  const len = b.readUInt32LE(MAGIC.length);
  const at = MAGIC.length + 4;
  need(at + len <= b.length, 'truncated header');
  const header = JSON.parse(b.toString('utf8', at, at + len)) as CacheHeader;
  need(
    header !== null &&
      typeof header === 'object' &&
      typeof header.root === 'string' &&
      typeof header.scannedAtMs === 'number' &&
      (header.version === undefined || typeof header.version === 'string'),
    'bad header',
  );
  return { header, recordsAt: at + len, format: format as 3 | 4 };
}

/** Every directory record, checked to lie within the buffer (their entries are checked when read). */
export function indexRecords(b: Buffer, at: number, format: 3 | 4): RecordRef[] {
  const dirBytes = format === 4 ? DIR_STAT_BYTES : 0;
  const out: RecordRef[] = [];
  const stop = b.length - TRAILER.length - 4;
  need(stop >= at && b.subarray(stop, stop + TRAILER.length).equals(TRAILER), 'no trailer (cut short)');
  while (at < stop) {
    need(at + 4 <= stop, 'truncated record');
    const end = at + 4 + b.readUInt32LE(at);
    need(end <= stop && end >= at + 13, 'truncated record');
    const pathLen = b.readUInt32LE(at + 5);
    need(at + 9 + pathLen + dirBytes + 4 <= end, 'bad record path');
    const entriesAt = at + 9 + pathLen + dirBytes;
    out.push({
      offset: at,
      end,
      path: b.toString('utf8', at + 9, at + 9 + pathLen),
      entriesAt,
      dirAt: format === 4 ? at + 9 + pathLen : -1,
    });
    at = end;
  }
  need(out.length === b.readUInt32LE(stop + TRAILER.length), 'record count does not match');
  return out;
}

/** One entry of a record, as read by `entriesOf`. `at` is where the file's stat fields start. */
export type RawEntry =
  | { kind: typeof KIND_FILE; name: string; at: number }
  | { kind: typeof KIND_LINK; name: string; target: string }
  | { kind: typeof KIND_DIR; name: string };

/** Whether the record is one of the version's directories. */
export function recordListed(b: Buffer, r: RecordRef): boolean {
  return b.readUInt8(r.offset + 4) === 1;
}

/**
 * Walks a record's entries, checking every length against the record's end, without decoding
 * names: `each(kind, nameAt, nameLen, at)` gets where the name lies and where the rest of the
 * entry starts (a file's stat fields, a link's target length). `status` reads a million entries
 * this way without a string or an object for the ones it does not look up.
 */
export function forEachEntry(
  b: Buffer,
  r: RecordRef,
  each: (kind: number, nameAt: number, nameLen: number, at: number) => void,
): void {
  let o = r.entriesAt;
  const count = b.readUInt32LE(o);
  o += 4;
  for (let i = 0; i < count; i++) {
    need(o + 3 <= r.end, 'truncated entry');
    const kind = b[o]!;
    const nameLen = b.readUInt16LE(o + 1);
    o += 3;
    need(o + nameLen <= r.end, 'truncated name');
    const nameAt = o;
    o += nameLen;
    if (kind === KIND_FILE) {
      need(o + STAT_BYTES + 36 <= r.end, 'truncated file entry');
      const at = o;
      const chunks = b.readUInt32LE(o + STAT_BYTES + 32);
      o += STAT_BYTES + 36 + 32 * chunks;
      need(o <= r.end, 'truncated chunk list');
      each(kind, nameAt, nameLen, at);
    } else if (kind === KIND_LINK) {
      need(o + 4 <= r.end, 'truncated link');
      const len = b.readUInt32LE(o);
      need(o + 4 + len <= r.end, 'truncated link target');
      each(kind, nameAt, nameLen, o);
      o += 4 + len;
    } else {
      need(kind === KIND_DIR, 'unknown entry kind');
      each(kind, nameAt, nameLen, o);
    }
  }
  need(o === r.end, 'record length does not match its entries');
}

/** A link entry's target; `at` as `forEachEntry` gives it. */
export function linkTargetAt(b: Buffer, at: number): string {
  return b.toString('utf8', at + 4, at + 4 + b.readUInt32LE(at));
}

/** A record's entries as objects (checked as `forEachEntry` checks them). */
export function entriesOf(b: Buffer, r: RecordRef): RawEntry[] {
  const out: RawEntry[] = [];
  forEachEntry(b, r, (kind, nameAt, nameLen, at) => {
    const name = b.toString('utf8', nameAt, nameAt + nameLen);
    if (kind === KIND_FILE) out.push({ kind, name, at });
    else if (kind === KIND_LINK) out.push({ kind, name, target: linkTargetAt(b, at) });
    else out.push({ kind: KIND_DIR, name });
  });
  return out;
}

/** The directory's own stat as recorded (UNKNOWN_DIR in format 3). */
export function dirStatOf(b: Buffer, r: RecordRef): DirStat {
  if (r.dirAt < 0) return UNKNOWN_DIR;
  return { ino: b.readDoubleLE(r.dirAt), mtimeMs: b.readDoubleLE(r.dirAt + 8), ctimeMs: b.readDoubleLE(r.dirAt + 16) };
}

/** Overwrites a record's directory stat (format 4 only: a no-op on a format-3 record). */
export function patchDirStat(b: Buffer, r: RecordRef, s: DirStat): void {
  if (r.dirAt < 0) return;
  b.writeDoubleLE(s.ino, r.dirAt);
  b.writeDoubleLE(s.mtimeMs, r.dirAt + 8);
  b.writeDoubleLE(s.ctimeMs, r.dirAt + 16);
}

/** The stat values of the file entry whose fields start at `at`. */
export function statAt(
  b: Buffer,
  at: number,
): { ino: number; size: number; mtimeMs: number; ctimeMs: number; exec: boolean } {
  return {
    ino: b.readDoubleLE(at),
    size: b.readDoubleLE(at + 8),
    mtimeMs: b.readDoubleLE(at + 16),
    ctimeMs: b.readDoubleLE(at + 24),
    exec: b.readUInt8(at + 32) === 1,
  };
}

/** Overwrites a file entry's four stat values (a re-hashed file found unchanged, or untrusted). */
export function patchStat(
  b: Buffer,
  at: number,
  s: { ino: number; size: number; mtimeMs: number; ctimeMs: number },
): void {
  b.writeDoubleLE(s.ino, at);
  b.writeDoubleLE(s.size, at + 8);
  b.writeDoubleLE(s.mtimeMs, at + 16);
  b.writeDoubleLE(s.ctimeMs, at + 24);
}

/** Digest and chunk list of the file entry whose fields start at `at`. */
export function contentAt(b: Buffer, at: number): { digest: string; chunks?: string[] } {
  const d = at + STAT_BYTES;
  const digest = b.toString('hex', d, d + 32);
  const n = b.readUInt32LE(d + 32);
  if (n === 0) return { digest };
  const chunks: string[] = [];
  for (let i = 0; i < n; i++) chunks.push(b.toString('hex', d + 36 + 32 * i, d + 68 + 32 * i));
  return { digest, chunks };
}

/** The whole cache as a StatCacheData (add and checkout use it as a map). */
export function decodeStatCache(b: Buffer): StatCacheData {
  const { header, recordsAt, format } = readHeader(b);
  const entries = new Map<string, StatEntry>();
  const links: Array<[string, string]> = [];
  const dirs: string[] = [];
  for (const r of indexRecords(b, recordsAt, format)) {
    if (r.path !== '' && recordListed(b, r)) dirs.push(r.path);
    const prefix = r.path === '' ? '' : `${r.path}/`;
    for (const e of entriesOf(b, r)) {
      if (e.kind === KIND_FILE) {
        const s = statAt(b, e.at);
        const c = contentAt(b, e.at);
        const entry: StatEntry = {
          ino: s.ino,
          size: s.size,
          mtimeMs: s.mtimeMs,
          ctimeMs: s.ctimeMs,
          mode: s.exec ? '755' : '644',
          digest: c.digest,
        };
        if (c.chunks) entry.chunks = c.chunks;
        entries.set(prefix + e.name, entry);
      } else if (e.kind === KIND_LINK) links.push([prefix + e.name, e.target]);
    }
  }
  return {
    v: 2,
    root: header.root,
    scannedAtMs: header.scannedAtMs,
    ...(header.version ? { version: header.version, links, dirs } : {}),
    ...(header.meta ? { meta: header.meta } : {}),
    entries,
  };
}
