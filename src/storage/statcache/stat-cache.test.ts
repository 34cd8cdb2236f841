import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import {
  cachedEntry,
  legacyStatCachePath,
  loadStatCache,
  RACY_MS,
  saveStatCache,
  statCacheJson,
  statCachePath,
  UNTRUSTED_STAT,
  type StatCacheData,
  type StatEntry,
} from './stat-cache.js';
import { sha256Hex as sha } from '../../core/digest.js';
import {
  dirStatOf,
  encodeFolderRecord,
  encodeHeader,
  encodeTrailer,
  indexRecords,
  MAGIC_V3,
  patchDirStat,
  readHeader,
  UNKNOWN_DIR,
} from './binary.js';
import { checkFolders } from './check-folders.js';
import { nativeStatBatch } from './native.js';
import { openFolderCache, statusByFolders } from './folder-status.js';
import { WorkerPool } from '../workers/pool.js';
import { StatChildren } from './stat-children.js';

/** The same cache in format 3 (no directory stat in the records), as older versions wrote it. */
function toFormat3(b: Buffer): Buffer {
  const { recordsAt, format } = readHeader(b);
  expect(format).toBe(4);
  const parts: Buffer[] = [Buffer.from(b.subarray(0, recordsAt))];
  MAGIC_V3.copy(parts[0]!, 0);
  const records = indexRecords(b, recordsAt, 4);
  for (const r of records) {
    const rec = Buffer.concat([b.subarray(r.offset, r.dirAt), b.subarray(r.entriesAt, r.end)]);
    rec.writeUInt32LE(rec.length - 4, 0);
    parts.push(rec);
  }
  parts.push(encodeTrailer(records.length));
  return Buffer.concat(parts);
}

function entry(over: Partial<StatEntry> = {}): StatEntry {
  return {
    ino: 1234,
    size: 10,
    mtimeMs: 1_700_000_000_123.456,
    // Before mtime (a tool set mtime ahead), so the mtime rule alone decides racy-ness below.
    ctimeMs: 1_700_000_000_100.5,
    mode: '644',
    digest: sha('x'),
    ...over,
  };
}

describe('stat cache', () => {
  const tmp = useTempDirs();

  it('round-trips any number of rows through format 4, and still reads format 3 and format 2 (JSON, written in pieces)', () => {
    for (const n of [0, 1, 4095, 4096, 4097, 10_000]) {
      for (const full of [false, true]) {
        const entries = new Map<string, StatEntry>();
        for (let i = 0; i < n; i++)
          entries.set(
            `d${i % 7}/f${i}`,
            entry({ ino: i, mode: i % 3 ? '644' : '755', ...(i % 5 ? {} : { chunks: [sha(`${i}`), sha(`${i}b`)] }) }),
          );
        const data: StatCacheData = {
          v: 2,
          root: '/data/"quoted"',
          scannedAtMs: 1_700_000_001_000,
          ...(full
            ? {
                version: sha('v'),
                links: [['l', 'd0/f0'] as [string, string]],
                dirs: ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6'].slice(0, Math.min(7, n)),
                meta: { a: 1 },
              }
            : {}),
          entries,
        };
        const dir = tmp();
        saveStatCache(dir, data);
        const bin = readFileSync(statCachePath(dir, data.root));
        expect(bin.subarray(0, 8).toString('latin1')).toBe('CRNSTAT4');
        const back = loadStatCache(dir, data.root)!;
        expect(back.entries).toEqual(entries);
        expect({ ...back, entries: null }).toEqual({ ...data, entries: null });
        // A cache rebuilt from a walk knows no directory stat (its folders are always listed).
        const { recordsAt } = readHeader(bin);
        for (const r of indexRecords(bin, recordsAt, 4)) expect(dirStatOf(bin, r)).toEqual(UNKNOWN_DIR);
        // Format 3, as the previous version wrote it, reads back the same.
        writeFileSync(statCachePath(dir, data.root), toFormat3(bin));
        const v3 = loadStatCache(dir, data.root)!;
        expect(v3.entries).toEqual(entries);
        expect({ ...v3, entries: null }).toEqual({ ...data, entries: null });

        // Format 2, as older versions wrote it: the pieces join to JSON.stringify of the whole.
        const rows = [...entries].map(([p, e]) => [
          p,
          e.ino,
          e.size,
          e.mtimeMs,
          e.ctimeMs,
          e.mode === '755' ? 1 : 0,
          e.digest,
          ...(e.chunks ? [e.chunks] : []),
        ]);
        const { entries: _e, ...rest } = data;
        const whole = JSON.stringify({ ...rest, rows });
        const pieces = [...statCacheJson(data)];
        expect(pieces.join('')).toBe(whole);
        if (n > 4096) expect(pieces.length).toBeGreaterThan(3);
        const legacy = tmp();
        mkdirSync(join(legacy, 'stat'), { recursive: true });
        writeFileSync(legacyStatCachePath(legacy, data.root), whole);
        expect(loadStatCache(legacy, data.root)!.entries).toEqual(entries);
        // Saving replaces the JSON file with format 4.
        saveStatCache(legacy, data);
        expect(existsSync(legacyStatCachePath(legacy, data.root))).toBe(false);
        expect(loadStatCache(legacy, data.root)!.entries).toEqual(entries);
      }
    }
  });

  it('lives under cache/stat, keyed by a hash of the directory path', () => {
    const key = createHash('sha256').update('/data/project').digest('hex').slice(0, 32);
    expect(statCachePath('/c', '/data/project')).toBe(join('/c', 'stat', `${key}.bin`));
    expect(legacyStatCachePath('/c', '/data/project')).toBe(join('/c', 'stat', `${key}.json`));
    expect(statCachePath('/c', '/data/other')).not.toBe(statCachePath('/c', '/data/project'));
  });

  it('round-trips a full baseline: entries (with chunks and modes), version, links, dirs and meta', () => {
    const cacheDir = tmp();
    const data: StatCacheData = {
      v: 2,
      root: '/work/checkout',
      scannedAtMs: 1_700_000_100_000,
      version: sha('root'),
      links: [
        ['l', 'a/b'],
        ['sub/l2', '../x'],
      ],
      dirs: ['a', 'a/empty', 'sub'],
      meta: { dataset: 'flights', ref: 'flights@v3' },
      entries: new Map([
        ['a/b', entry()],
        [
          'big.bin',
          entry({
            ino: 99,
            size: 3_000_000,
            mode: '755',
            digest: sha('big'),
            chunks: [sha('c1'), sha('c2'), sha('c3')],
          }),
        ],
        ['é/😀.txt', entry({ ino: 7, size: 0, digest: sha('') })],
      ]),
    };
    saveStatCache(cacheDir, data);
    expect(existsSync(statCachePath(cacheDir, data.root))).toBe(true);
    expect(loadStatCache(cacheDir, data.root)).toEqual(data);
    // Entries come back grouped by directory, each directory's in the order given.
    expect([...loadStatCache(cacheDir, data.root)!.entries.keys()].sort()).toEqual(['a/b', 'big.bin', 'é/😀.txt']);
  });

  it('keeps links and dirs only for a cache that describes one version', () => {
    const cacheDir = tmp();
    saveStatCache(cacheDir, {
      v: 2,
      root: '/r',
      scannedAtMs: 5,
      links: [['l', 't']],
      dirs: ['d'],
      entries: new Map([['f', entry()]]),
    });
    expect(loadStatCache(cacheDir, '/r')).toEqual({
      v: 2,
      root: '/r',
      scannedAtMs: 5,
      entries: new Map([['f', entry()]]),
    });
    // With a version but no links/dirs given, they load as empty lists.
    saveStatCache(cacheDir, { v: 2, root: '/r', scannedAtMs: 5, version: sha('v'), entries: new Map() });
    expect(loadStatCache(cacheDir, '/r')).toEqual({
      v: 2,
      root: '/r',
      scannedAtMs: 5,
      version: sha('v'),
      links: [],
      dirs: [],
      entries: new Map(),
    });
  });

  it('answers null for a damaged format-3 file: every truncation, and flipped lengths', () => {
    const cacheDir = tmp();
    const data: StatCacheData = {
      v: 2,
      root: '/r',
      scannedAtMs: 1,
      version: sha('v'),
      links: [['d/l', 'f']],
      dirs: ['d'],
      entries: new Map([
        ['f', entry()],
        ['d/g', entry({ chunks: [sha('a'), sha('b')] })],
      ]),
    };
    saveStatCache(cacheDir, data);
    const path = statCachePath(cacheDir, '/r');
    const good = readFileSync(path);
    for (let cut = 0; cut < good.length; cut++) {
      writeFileSync(path, good.subarray(0, cut));
      // Cut anywhere, even between two records: refused whole (a lost record would hide changes).
      expect(loadStatCache(cacheDir, '/r'), `cut at ${cut}`).toBeNull();
    }
    for (let at = 8; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ 0xff;
      writeFileSync(path, bad);
      expect(() => loadStatCache(cacheDir, '/r')).not.toThrow();
    }
    writeFileSync(path, good);
    expect(loadStatCache(cacheDir, '/elsewhere')).toBeNull();
  });

  it('answers null for a missing, damaged or foreign format-2 cache file instead of failing', () => {
    const cacheDir = tmp();
    expect(loadStatCache(cacheDir, '/r')).toBeNull();
    const path = legacyStatCachePath(cacheDir, '/r');
    mkdirSync(join(cacheDir, 'stat'), { recursive: true });
    const good = { v: 2, root: '/r', scannedAtMs: 1, rows: [['f', 1, 2, 3, 4, 0, sha('x')]] };
    const damaged: Array<[string, string]> = [
      ['truncated', JSON.stringify(good).slice(0, 30)],
      ['empty', ''],
      ['binary', '\u0000\u0001garbage'],
      ['old version', JSON.stringify({ ...good, v: 1 })],
      ['other root', JSON.stringify({ ...good, root: '/elsewhere' })],
      ['rows missing', JSON.stringify({ v: 2, root: '/r', scannedAtMs: 1 })],
      ['rows not a list', JSON.stringify({ ...good, rows: { f: 1 } })],
      ['row not a list', JSON.stringify({ ...good, rows: [null] })],
      ['null', 'null'],
    ];
    for (const [what, text] of damaged) {
      writeFileSync(path, text);
      expect(loadStatCache(cacheDir, '/r'), what).toBeNull();
    }
    writeFileSync(path, JSON.stringify(good));
    expect(loadStatCache(cacheDir, '/r')?.entries.get('f')).toEqual({
      ino: 1,
      size: 2,
      mtimeMs: 3,
      ctimeMs: 4,
      mode: '644',
      digest: sha('x'),
    });
  });

  describe('cachedEntry', () => {
    const e = entry();
    const now = { ino: e.ino, size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.ctimeMs };
    const cache = (scannedAtMs: number): StatCacheData => ({
      v: 2,
      root: '/r',
      scannedAtMs,
      entries: new Map([['f', e]]),
    });
    const settled = cache(e.mtimeMs + RACY_MS + 1);

    it('trusts an entry whose inode, size, mtime and ctime are all unchanged', () => {
      expect(cachedEntry(settled, 'f', now)).toBe(e);
    });

    it('rejects any change of any stat value, however small', () => {
      for (const change of [
        { ino: e.ino + 1 },
        { size: e.size + 1 },
        { size: 0 },
        { mtimeMs: e.mtimeMs + 0.001 },
        { mtimeMs: e.mtimeMs - 1000 },
        { ctimeMs: e.ctimeMs + 0.001 },
      ]) {
        expect(cachedEntry(settled, 'f', { ...now, ...change }), JSON.stringify(change)).toBeNull();
      }
    });

    it('never trusts racy entries: mtime within RACY_MS of the scan, or after it', () => {
      expect(RACY_MS).toBe(2000);
      expect(cachedEntry(cache(e.mtimeMs + RACY_MS + 0.001), 'f', now)).toBe(e);
      expect(cachedEntry(cache(e.mtimeMs + RACY_MS), 'f', now)).toBeNull();
      expect(cachedEntry(cache(e.mtimeMs + 1), 'f', now)).toBeNull();
      expect(cachedEntry(cache(e.mtimeMs), 'f', now)).toBeNull();
      expect(cachedEntry(cache(e.mtimeMs - 60_000), 'f', now)).toBeNull();
    });

    it('never trusts an entry whose ctime is recent, even with an old mtime (tar, cp -p restore mtimes)', () => {
      const restored = { ...e, mtimeMs: e.mtimeMs - 86_400_000 };
      const c = (scannedAtMs: number): StatCacheData => ({
        v: 2,
        root: '/r',
        scannedAtMs,
        entries: new Map([['f', restored]]),
      });
      const st = { ...now, mtimeMs: restored.mtimeMs };
      expect(cachedEntry(c(e.ctimeMs + RACY_MS), 'f', st)).toBeNull();
      expect(cachedEntry(c(e.ctimeMs + 1), 'f', st)).toBeNull();
      expect(cachedEntry(c(e.ctimeMs + RACY_MS + 0.001), 'f', st)).toBe(restored);
    });

    it('answers null for unknown paths, no cache, and untrusted entries', () => {
      expect(cachedEntry(settled, 'other', now)).toBeNull();
      expect(cachedEntry(null, 'f', now)).toBeNull();
      const untrusted: StatCacheData = { ...settled, entries: new Map([['f', { ...e, ...UNTRUSTED_STAT }]]) };
      expect(cachedEntry(untrusted, 'f', now)).toBeNull();
    });

    it('works with the stat values of a real file, and notices a rewrite of the same size', () => {
      const dir = tmp();
      const file = join(dir, 'data.csv');
      writeFileSync(file, 'a,b\n1,2\n');
      // Backdate the file so the entry is not racy against a scan that starts now.
      const past = new Date(Date.now() - 60_000);
      utimesSync(file, past, past);
      const st = statSync(file);
      const stat = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
      const c: StatCacheData = {
        v: 2,
        root: dir,
        // As if scanned once the racy window after the utimes (which set ctime to now) closed.
        scannedAtMs: Date.now() + RACY_MS + 1,
        entries: new Map([['data.csv', { ...stat, mode: '644', digest: sha('a,b\n1,2\n') }]]),
      };
      const cacheDir = tmp();
      saveStatCache(cacheDir, c);
      const loaded = loadStatCache(cacheDir, dir)!;
      const again = statSync(file);
      expect(
        cachedEntry(loaded, 'data.csv', {
          ino: again.ino,
          size: again.size,
          mtimeMs: again.mtimeMs,
          ctimeMs: again.ctimeMs,
        })?.digest,
      ).toBe(sha('a,b\n1,2\n'));
      writeFileSync(file, 'a,b\n3,4\n');
      const after = statSync(file);
      expect(after.size).toBe(st.size);
      expect(
        cachedEntry(loaded, 'data.csv', {
          ino: after.ino,
          size: after.size,
          mtimeMs: after.mtimeMs,
          ctimeMs: after.ctimeMs,
        }),
      ).toBeNull();
    });
  });
});

type DirStatLike = { ino: number; mtimeMs: number; ctimeMs: number };

const pool = new WorkerPool(1);
afterAll(() => pool.close());

describe('openFolderCache (the cache status compares folder by folder)', () => {
  const tmp = useTempDirs();
  const version = sha('v');
  const data: StatCacheData = {
    v: 2,
    root: '/r',
    scannedAtMs: 1,
    version,
    links: [['d/l', 'f']],
    dirs: ['d', 'd/e'],
    entries: new Map([
      ['f', entry()],
      ['d/g', entry({ chunks: [sha('a'), sha('b')] })],
      ['d/e/h', entry()],
    ]),
  };

  it('opens a whole cache of the version, and nothing else', () => {
    const cacheDir = tmp();
    saveStatCache(cacheDir, data);
    const c = openFolderCache(cacheDir, '/r', version);
    expect(c?.records.map((r) => r.path).sort()).toEqual(['', 'd', 'd/e']);
    expect(openFolderCache(cacheDir, '/r', sha('other'))).toBeNull();
    expect(openFolderCache(cacheDir, '/elsewhere', version)).toBeNull();
  });

  it('refuses every truncation and never throws on a flipped byte', () => {
    const cacheDir = tmp();
    saveStatCache(cacheDir, data);
    const path = statCachePath(cacheDir, '/r');
    const good = readFileSync(path);
    for (let cut = 0; cut < good.length; cut++) {
      writeFileSync(path, good.subarray(0, cut));
      expect(openFolderCache(cacheDir, '/r', version), `cut at ${cut}`).toBeNull();
    }
    for (let at = 8; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ 0xff;
      writeFileSync(path, bad);
      expect(() => openFolderCache(cacheDir, '/r', version)).not.toThrow();
    }
  });

  it('keeps a directory stat per record, patched in place; format 3 records have none', () => {
    const dir: DirStatLike = { ino: 77, mtimeMs: 1_700_000_000_001.25, ctimeMs: 1_700_000_000_002.5 };
    const b = Buffer.concat([
      encodeHeader({ root: '/r', scannedAtMs: 1, version }),
      encodeFolderRecord('', true, dir, [['f', entry()]], [['l', 'f']], ['d']),
      encodeFolderRecord('d', true, UNKNOWN_DIR, [], [], []),
      encodeTrailer(2),
    ]);
    const { recordsAt, format } = readHeader(b);
    const [root, d] = indexRecords(b, recordsAt, format);
    expect(dirStatOf(b, root!)).toEqual(dir);
    expect(dirStatOf(b, d!)).toEqual(UNKNOWN_DIR);
    patchDirStat(b, root!, UNKNOWN_DIR);
    expect(dirStatOf(b, root!)).toEqual(UNKNOWN_DIR);
    const v3 = toFormat3(b);
    const h3 = readHeader(v3);
    expect(h3.format).toBe(3);
    const [root3] = indexRecords(v3, h3.recordsAt, 3);
    expect(root3!.dirAt).toBe(-1);
    expect(dirStatOf(v3, root3!)).toEqual(UNKNOWN_DIR);
  });

  it('lists a folder whose own stat is unchanged but was recorded within the racy window', () => {
    // The record lists only `a` while the folder also holds `b`, with the folder's current stat:
    // what a file created in the same clock tick right after add listed the folder would leave.
    const root = tmp();
    writeFileSync(join(root, 'a'), 'a');
    writeFileSync(join(root, 'b'), 'b');
    const self = lstatSync(root);
    const a = lstatSync(join(root, 'a'));
    const fileA = entry({ ino: a.ino, size: a.size, mtimeMs: a.mtimeMs, ctimeMs: a.ctimeMs });
    const dir = { ino: self.ino, mtimeMs: self.mtimeMs, ctimeMs: self.ctimeMs };
    const check = (d: DirStatLike, scannedAtMs: number) => {
      const b = Buffer.concat([
        encodeHeader({ root, scannedAtMs, version }),
        encodeFolderRecord('', true, d, [['a', fileA]], [], []),
        encodeTrailer(1),
      ]);
      const { recordsAt, format } = readHeader(b);
      return checkFolders(b, indexRecords(b, recordsAt, format), root, scannedAtMs).folders[0]!;
    };
    const latest = Math.max(self.mtimeMs, self.ctimeMs);
    // Recorded within RACY_MS of the scan: listed, and `b` is found.
    const racy = check(dir, latest + RACY_MS - 1);
    expect(racy.listed).toBe(true);
    expect(racy.added).toEqual(['b']);
    expect(racy.dir).toBeNull();
    // Any of the three values different: listed too.
    for (const d of [
      { ...dir, ino: dir.ino + 1 },
      { ...dir, mtimeMs: dir.mtimeMs - 1 },
      { ...dir, ctimeMs: dir.ctimeMs - 1 },
      UNKNOWN_DIR,
    ]) {
      const got = check(d, latest + RACY_MS + 10_000);
      expect(got.listed).toBe(true);
      expect(got.added).toEqual(['b']);
    }
    // Settled and equal: the record's names are taken as the folder's (the skip; `a` is still stat'ed).
    const settled = check(dir, latest + RACY_MS + 10_000);
    expect(settled.listed).toBe(false);
    expect(settled.added).toEqual([]);
    expect(settled.unchanged).toBe(1);
    expect(settled.dir).toEqual(dir);
  });

  it('refuses a cache naming a directory that has no record (that directory would go unchecked)', async () => {
    const root = tmp();
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'f'), 'f');
    const cacheDir = tmp();
    const parts = [
      encodeHeader({ root, scannedAtMs: 1, version }),
      encodeFolderRecord('', true, UNKNOWN_DIR, [['f', entry()]], [], ['d']),
      encodeTrailer(1),
    ];
    mkdirSync(join(cacheDir, 'stat'), { recursive: true });
    writeFileSync(statCachePath(cacheDir, root), Buffer.concat(parts));
    // Opened (only the record index is read up front), refused once the workers report the entry.
    const orphan = openFolderCache(cacheDir, root, version)!;
    expect(orphan.records.length).toBe(1);
    expect(await statusByFolders(pool, root, orphan)).toBeNull();
    // The same with the record present is accepted.
    writeFileSync(
      statCachePath(cacheDir, root),
      Buffer.concat([parts[0]!, parts[1]!, encodeFolderRecord('d', true, UNKNOWN_DIR, [], [], []), encodeTrailer(2)]),
    );
    const whole = openFolderCache(cacheDir, root, version)!;
    expect(whole.records.length).toBe(2);
    const got = await statusByFolders(pool, root, whole);
    expect(got?.modified).toEqual(['f']);
    expect(got?.listed).toBe(2);
  });

  it('answers null when the cache file is replaced between indexing and the workers reading it', async () => {
    const root = tmp();
    writeFileSync(join(root, 'f'), 'f');
    const cacheDir = tmp();
    const bytes = Buffer.concat([
      encodeHeader({ root, scannedAtMs: 1, version }),
      encodeFolderRecord('', true, UNKNOWN_DIR, [['f', entry()]], [], []),
      encodeTrailer(1),
    ]);
    mkdirSync(join(cacheDir, 'stat'), { recursive: true });
    const path = statCachePath(cacheDir, root);
    writeFileSync(path, bytes);
    const c = openFolderCache(cacheDir, root, version)!;
    // The same bytes in a new file renamed over it (what add and status do): not the file indexed.
    writeFileSync(`${path}.new`, bytes);
    renameSync(`${path}.new`, path);
    expect(await statusByFolders(pool, root, c)).toBeNull();
    // Opened afresh, the same bytes compare.
    expect((await statusByFolders(pool, root, openFolderCache(cacheDir, root, version)!))?.modified).toEqual(['f']);
  });

  it('answers null (the caller falls back to the full walk) for a record damaged inside its entries', async () => {
    const root = tmp();
    writeFileSync(join(root, 'f'), 'f');
    const cacheDir = tmp();
    const rec = encodeFolderRecord('', true, UNKNOWN_DIR, [['f', entry()]], [], []);
    // The one entry is the record's last 73 bytes (kind, name length, "f", stat, digest, count):
    // its kind byte set to a kind that does not exist.
    rec[rec.length - (3 + 1 + 33 + 32 + 4)] = 7;
    mkdirSync(join(cacheDir, 'stat'), { recursive: true });
    writeFileSync(
      statCachePath(cacheDir, root),
      Buffer.concat([encodeHeader({ root, scannedAtMs: 1, version }), rec, encodeTrailer(1)]),
    );
    const c = openFolderCache(cacheDir, root, version)!;
    expect(c).not.toBeNull();
    expect(await statusByFolders(pool, root, c)).toBeNull();
  });

  it('the stat children (stat by name from inside each folder) answer what the workers answer', async () => {
    const root = tmp();
    mkdirSync(join(root, 'd'));
    mkdirSync(join(root, 'gone'));
    writeFileSync(join(root, 'f'), 'f');
    writeFileSync(join(root, 'd', 'g'), 'g');
    writeFileSync(join(root, 'd', 'new'), 'n');
    writeFileSync(join(root, 'gone', 'x'), 'x');
    const cacheDir = tmp();
    mkdirSync(join(cacheDir, 'stat'), { recursive: true });
    const cachePath = statCachePath(cacheDir, root);
    // f and d/g recorded with other stat values (hashed: f modified, g as recorded), d/h gone,
    // d/new not recorded; `gone` becomes a file, so its record is void.
    const write = () =>
      writeFileSync(
        cachePath,
        Buffer.concat([
          encodeHeader({ root, scannedAtMs: 1, version }),
          encodeFolderRecord('', true, UNKNOWN_DIR, [['f', entry()]], [], ['d', 'gone']),
          encodeFolderRecord(
            'd',
            true,
            UNKNOWN_DIR,
            [
              ['g', entry({ digest: sha('g'), size: 1 })],
              ['h', entry()],
            ],
            [],
            [],
          ),
          encodeFolderRecord('gone', true, UNKNOWN_DIR, [['x', entry()]], [], []),
          encodeTrailer(3),
        ]),
      );
    write();
    rmSync(join(root, 'gone'), { recursive: true });
    writeFileSync(join(root, 'gone'), 'now a file');
    const strip = (r: Awaited<ReturnType<typeof statusByFolders>>) => {
      const { save: _save, via: _via, ...rest } = r!;
      return rest;
    };
    const byWorkers = await statusByFolders(pool, root, openFolderCache(cacheDir, root, version)!);
    expect(byWorkers?.via).toBe('workers');
    expect(byWorkers?.modified).toEqual(['f']);
    expect(byWorkers?.removed).toEqual(['d/h', 'gone/x']);
    expect(byWorkers?.added).toEqual(['d/new', 'gone']);
    const kids = StatChildren.start(2)!;
    const byChildren = await statusByFolders(pool, root, openFolderCache(cacheDir, root, version)!, undefined, kids);
    await kids.close();
    expect(byChildren?.via).toBe('children');
    expect(strip(byChildren)).toEqual(strip(byWorkers));
    // The children's cwd changes stay in the children.
    expect(process.cwd()).not.toBe(join(root, 'd'));
    // Children that are gone: the workers take over, with the same answer.
    const late = await statusByFolders(pool, root, openFolderCache(cacheDir, root, version)!, undefined, kids);
    expect(late?.via).toBe('workers');
    expect(strip(late)).toEqual(strip(byWorkers));
    // The native stat batch (when built) answers the same.
    const nb = nativeStatBatch();
    if (nb) {
      const byNative = await statusByFolders(
        pool,
        root,
        openFolderCache(cacheDir, root, version)!,
        undefined,
        null,
        nb,
      );
      expect(byNative?.via).toBe('native');
      expect(strip(byNative)).toEqual(strip(byWorkers));
    }
    // A cache replaced after it was indexed is refused by the children (and the native batch) as
    // by the workers.
    const c = openFolderCache(cacheDir, root, version)!;
    write();
    const again = StatChildren.start(2)!;
    expect(await statusByFolders(pool, root, c, undefined, again)).toBeNull();
    await again.close();
    if (nb) expect(await statusByFolders(pool, root, c, undefined, null, nb)).toBeNull();
  });
});
