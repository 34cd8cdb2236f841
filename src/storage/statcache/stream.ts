import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { ioError } from '../../core/errors.js';
import { processAlive } from '../locks/locks.js';
import {
  contentAt,
  encodeFolderRecord,
  encodeHeader,
  encodeTrailer,
  entriesOf,
  indexRecords,
  KIND_FILE,
  MAGIC,
  readHeader,
  statAt,
  type DirStat,
  type RecordRef,
} from './binary.js';
import { legacyStatCachePath, loadStatCache, statCachePath, type StatCacheData, type StatEntry } from './stat-cache.js';

/**
 * A previous stat cache read one directory at a time: `add` decodes the record of the folder it
 * is hashing and drops it when it moves on, instead of a map of every file (issue 16).
 */
export interface PriorCache {
  scannedAtMs: number;
  /** The cached entries of the files directly in `rel` ('' for the root), by name. */
  folder(rel: string): ReadonlyMap<string, StatEntry> | undefined;
}

/** The cache of `root` for a folder-by-folder add, or null when there is none (or it is damaged). */
export function openPriorCache(cacheDir: string, root: string): PriorCache | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(statCachePath(cacheDir, root));
  } catch {
    const legacy = loadStatCache(cacheDir, root);
    return legacy ? priorFromData(legacy) : null;
  }
  try {
    const { header, recordsAt, format } = readHeader(bytes);
    if (header.root !== root) return null;
    const records = new Map<string, RecordRef>();
    for (const r of indexRecords(bytes, recordsAt, format)) records.set(r.path, r);
    return {
      scannedAtMs: header.scannedAtMs,
      folder(rel) {
        const r = records.get(rel);
        if (!r) return undefined;
        const out = new Map<string, StatEntry>();
        try {
          for (const e of entriesOf(bytes, r)) {
            if (e.kind !== KIND_FILE) continue;
            const s = statAt(bytes, e.at);
            const c = contentAt(bytes, e.at);
            out.set(e.name, {
              ino: s.ino,
              size: s.size,
              mtimeMs: s.mtimeMs,
              ctimeMs: s.ctimeMs,
              mode: s.exec ? '755' : '644',
              digest: c.digest,
              ...(c.chunks ? { chunks: c.chunks } : {}),
            });
          }
        } catch {
          // A damaged record only costs re-hashing its folder.
          return undefined;
        }
        return out;
      },
    };
  } catch {
    return null;
  }
}

/** A whole cache in memory (format 2, tests) seen folder by folder. */
export function priorFromData(data: StatCacheData): PriorCache {
  const byFolder = new Map<string, Map<string, StatEntry>>();
  for (const [p, e] of data.entries) {
    const i = p.lastIndexOf('/');
    const dir = i < 0 ? '' : p.slice(0, i);
    let m = byFolder.get(dir);
    if (!m) byFolder.set(dir, (m = new Map()));
    m.set(p.slice(i + 1), e);
  }
  return { scannedAtMs: data.scannedAtMs, folder: (rel) => byFolder.get(rel) };
}

const TEMP = /^\.stat-(\d+)-[0-9a-f]{12}\.tmp$/;

/**
 * Writes a format-4 cache record by record while `add` walks the tree, into a temporary file
 * that becomes the cache only through `save()` after the version is committed. The header is
 * written last, into room reserved for it (the version's digest is known only at the end).
 * A killed add leaves its temporary file; the next writer for any root removes those whose
 * process is gone.
 */
export class StatCacheWriter {
  readonly #fd: number;
  readonly #tmp: string;
  readonly #final: string;
  readonly #reserve: number;
  #at: number;
  #records = 0;
  #closed = false;

  constructor(
    cacheDir: string,
    readonly root: string,
    readonly scannedAtMs: number,
    readonly meta?: Record<string, unknown>,
  ) {
    this.#final = statCachePath(cacheDir, root);
    const dir = dirname(this.#final);
    fs.mkdirSync(dir, { recursive: true });
    removeStaleTemps(dir);
    this.#tmp = join(dir, `.stat-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    // Room for the header with a version digest and any scan time: the JSON is padded to it at the end.
    this.#reserve = encodeHeader(this.#header('0'.repeat(64), Number.MAX_SAFE_INTEGER)).length;
    try {
      this.#fd = fs.openSync(this.#tmp, 'wx', 0o644);
    } catch (err) {
      throw ioError(err, 'write', this.#tmp);
    }
    this.#at = this.#reserve;
  }

  #header(version: string, scannedAtMs: number) {
    return { root: this.root, scannedAtMs, version, ...(this.meta ? { meta: this.meta } : {}) };
  }

  /**
   * Appends one directory's record (its own stat taken before it was listed, or UNKNOWN_DIR;
   * file names with their entries, links, subdirectories).
   */
  folder(
    path: string,
    listed: boolean,
    dir: DirStat,
    files: ReadonlyArray<readonly [string, StatEntry]>,
    links: ReadonlyArray<readonly [string, string]>,
    dirs: readonly string[],
  ): void {
    this.#write(encodeFolderRecord(path, listed, dir, files, links, dirs));
    this.#records++;
  }

  #write(b: Buffer, at = this.#at): void {
    try {
      for (let o = 0; o < b.length;) o += fs.writeSync(this.#fd, b, o, b.length - o, at + o);
    } catch (err) {
      throw ioError(err, 'write', this.#tmp);
    }
    if (at === this.#at) this.#at += b.length;
  }

  /**
   * Closes the file with its header (naming `version`; `scannedAtMs` when the stat values were
   * taken later than the writer was made) and trailer; it is not the cache yet.
   */
  finish(version: string, scannedAtMs = this.scannedAtMs): void {
    this.#write(encodeTrailer(this.#records));
    const head = encodeHeader(this.#header(version, scannedAtMs), this.#reserve - MAGIC.length - 4);
    if (head.length !== this.#reserve) throw new Error(`stat cache header of ${head.length} bytes in ${this.#reserve}`);
    this.#write(head, 0);
    this.#close();
  }

  /** Makes the finished file the cache of its root (a format-2 one is removed). */
  save(): void {
    try {
      fs.renameSync(this.#tmp, this.#final);
    } catch (err) {
      throw ioError(err, 'write', this.#final);
    }
    fs.rmSync(legacyStatCachePath(dirname(dirname(this.#final)), this.root), { force: true });
  }

  /** Throws the records away (the add failed or will not be recorded). */
  discard(): void {
    this.#close();
    fs.rmSync(this.#tmp, { force: true });
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.#fd);
  }
}

function removeStaleTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = TEMP.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) fs.rmSync(join(dir, name), { force: true });
  }
}
