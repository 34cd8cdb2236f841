import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { buildTree } from '../storage/tree/build.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { diffVersions } from './diff.js';
import { listAll, logOf, showVersion } from './queries.js';
import { resolveVersion } from './resolve.js';
import { statusOf } from './status.js';
import { tagVersion } from './tag.js';
import { sha256Hex as sha } from '../core/digest.js';
import { rejectsWith } from '../test-support/assert.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function packFiles(ws: Workspace): string[] {
  const dir = join(ws.cairnDir, 'objects', 'packs');
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return [];
  }
  return shards.flatMap((s) => readdirSync(join(dir, s)).map((n) => `${s}/${n}`)).sort();
}

describe('datasets: add, versions, refs, tags, status (in process)', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });
  const open = async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    return { ws, dir };
  };

  /** A tree with nested dirs, an empty dir, a symlink inside and an executable file. */
  function sampleTree(root: string): Record<string, Buffer> {
    const files: Record<string, Buffer> = {
      'README.md': Buffer.from('# sample\n'),
      'bin/run.sh': Buffer.from('#!/bin/sh\necho hi\n'),
      'data/train/part-0.bin': prng(1, 300 * KiB),
      'data/train/part-1.bin': prng(2, 70 * KiB),
      'data/test/part-0.bin': prng(3, 5 * KiB),
      'empty.txt': Buffer.alloc(0),
    };
    writeTree(root, files);
    chmodSync(join(root, 'bin/run.sh'), 0o755);
    mkdirSync(join(root, 'data/empty-dir'), { recursive: true });
    symlinkSync('train/part-0.bin', join(root, 'data/latest.bin'));
    return files;
  }

  it('add of a tree makes v1 with every file, mode, symlink and directory', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    const files = sampleTree(src);
    const total = Object.values(files).reduce((n, b) => n + b.length, 0);
    const r = await addVersion(ws, { source: src, name: 'sample', message: 'first' });
    expect(r).toMatchObject({
      ref: 'sample@v1',
      dataset: 'sample',
      version: 1,
      files: 6,
      bytes: total,
      unchanged: false,
      filesFromCache: 0,
    });
    expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // New bytes: every file byte (nothing to deduplicate against) plus the tree nodes.
    expect(r.newBytes).toBeGreaterThan(total);
    expect(r.packs).toBeGreaterThanOrEqual(1);

    const shown = await showVersion(ws, 'sample@v1');
    expect(shown.listing).toEqual([
      {
        path: 'README.md',
        type: 'file',
        size: 9,
        digest: `sha256:${sha(files['README.md']!)}`,
        mode: '644',
        chunks: 1,
      },
      {
        path: 'bin/run.sh',
        type: 'file',
        size: files['bin/run.sh']!.length,
        digest: `sha256:${sha(files['bin/run.sh']!)}`,
        mode: '755',
        chunks: 1,
      },
      { path: 'data/latest.bin', type: 'symlink', size: null, digest: null, target: 'train/part-0.bin' },
      {
        path: 'data/test/part-0.bin',
        type: 'file',
        size: 5 * KiB,
        digest: `sha256:${sha(files['data/test/part-0.bin']!)}`,
        mode: '644',
        chunks: 1,
      },
      {
        path: 'data/train/part-0.bin',
        type: 'file',
        size: 300 * KiB,
        digest: `sha256:${sha(files['data/train/part-0.bin']!)}`,
        mode: '644',
        chunks: expect.any(Number),
      },
      {
        path: 'data/train/part-1.bin',
        type: 'file',
        size: 70 * KiB,
        digest: `sha256:${sha(files['data/train/part-1.bin']!)}`,
        mode: '644',
        chunks: 1,
      },
      { path: 'empty.txt', type: 'file', size: 0, digest: `sha256:${sha('')}`, mode: '644', chunks: 0 },
    ]);
    // 300 KiB is above the 64 KiB minimum chunk: it may be one or several chunks, never zero.
    expect(shown.listing[4]!.chunks).toBeGreaterThanOrEqual(1);
    expect(shown).toMatchObject({
      ref: 'sample@v1',
      version: 1,
      message: 'first',
      author: 'tester@example.com',
      files: 6,
      bytes: total,
      parent: null,
      derivedFrom: [],
      tags: [],
      truncated: false,
    });
    // bin, data, data/empty-dir, data/test, data/train
    expect(shown.stats).toMatchObject({
      files: 6,
      bytes: total,
      dirs: 5,
      symlinks: 1,
      newBytes: r.newBytes,
      newChunks: r.newChunks,
    });
    expect(shown.stats.extensions).toEqual([
      { ext: '.bin', files: 3, bytes: 375 * KiB },
      { ext: '.sh', files: 1, bytes: files['bin/run.sh']!.length },
      { ext: '.md', files: 1, bytes: 9 },
      { ext: '.txt', files: 1, bytes: 0 },
    ]);
  });

  it('add of a single file makes a version holding that one file', async () => {
    const { ws, dir } = await open();
    const file = join(dir, 'weights.bin');
    const bytes = prng(9, 200 * KiB);
    writeFileSync(file, bytes);
    const r = await addVersion(ws, { source: file, name: 'weights' });
    expect(r).toMatchObject({ ref: 'weights@v1', files: 1, bytes: 200 * KiB, unchanged: false });
    const shown = await showVersion(ws, 'weights');
    expect(shown.listing.map((f) => [f.path, f.size, f.digest])).toEqual([
      ['weights.bin', 200 * KiB, `sha256:${sha(bytes)}`],
    ]);
  });

  it('re-adding an unchanged tree records nothing new, with or without the stat cache', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    sampleTree(src);
    const v1 = await addVersion(ws, { source: src, name: 'sample' });
    const packsBefore = packFiles(ws);
    const again = await addVersion(ws, { source: src, name: 'sample' });
    expect(again).toMatchObject({
      ref: 'sample@v1',
      version: 1,
      digest: v1.digest,
      unchanged: true,
      newBytes: 0,
      newChunks: 0,
      packs: 0,
    });
    // Touch every file (same content, new mtime): the cache cannot vouch, contents are re-read.
    const later = new Date(Date.now() - 60_000);
    for (const p of [
      'README.md',
      'bin/run.sh',
      'data/train/part-0.bin',
      'data/train/part-1.bin',
      'data/test/part-0.bin',
      'empty.txt',
    ])
      utimesSync(join(src, p), later, later);
    const touched = await addVersion(ws, { source: src, name: 'sample' });
    expect(touched).toMatchObject({
      ref: 'sample@v1',
      version: 1,
      digest: v1.digest,
      unchanged: true,
      newBytes: 0,
      packs: 0,
    });
    expect((await logOf(ws, 'sample')).map((v) => v.ref)).toEqual(['sample@v1']);
    expect(packFiles(ws)).toEqual(packsBefore);
  });

  it('modify, add and remove files: v2 with a parent, and diff lists exactly those paths', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    const files = sampleTree(src);
    await addVersion(ws, { source: src, name: 'sample' });
    writeFileSync(join(src, 'README.md'), '# sample, v2\n');
    writeFileSync(join(src, 'data/test/part-1.bin'), prng(4, 2 * KiB));
    rmSync(join(src, 'data/train/part-1.bin'));
    chmodSync(join(src, 'empty.txt'), 0o755); // a mode change alone is a modification
    const v2 = await addVersion(ws, { source: src, name: 'sample', message: 'second' });
    expect(v2).toMatchObject({ ref: 'sample@v2', version: 2, unchanged: false, files: 6 });

    const d = await diffVersions(ws, 'sample@v1', 'sample@v2');
    expect(d.from).toBe('sample@v1');
    expect(d.to).toBe('sample@v2');
    expect(d.added.map((c) => [c.path, c.type, c.oldSize, c.newSize])).toEqual([
      ['data/test/part-1.bin', 'file', null, 2 * KiB],
    ]);
    expect(d.removed.map((c) => [c.path, c.type, c.oldSize, c.newSize])).toEqual([
      ['data/train/part-1.bin', 'file', 70 * KiB, null],
    ]);
    expect(d.modified.map((c) => c.path)).toEqual(['README.md', 'empty.txt']);
    expect(d.modified[0]).toMatchObject({
      oldSize: 9,
      newSize: 13,
      oldDigest: `sha256:${sha(files['README.md']!)}`,
      newDigest: `sha256:${sha('# sample, v2\n')}`,
    });
    expect(d.summary).toEqual({ added: 1, removed: 1, modified: 2, bytesAdded: 2 * KiB + 4, bytesRemoved: 70 * KiB });
    // The reverse diff swaps added and removed.
    const back = await diffVersions(ws, 'sample@v2', 'sample@v1');
    expect(back.added.map((c) => c.path)).toEqual(['data/train/part-1.bin']);
    expect(back.removed.map((c) => c.path)).toEqual(['data/test/part-1.bin']);
    expect(await diffVersions(ws, 'sample@v2', 'sample')).toMatchObject({ added: [], removed: [], modified: [] });

    const shown = await showVersion(ws, 'sample@v2');
    expect(shown).toMatchObject({ parent: 'sample@v1', message: 'second', version: 2 });
    const log = await logOf(ws, 'sample');
    expect(log.map((v) => [v.ref, v.parent])).toEqual([
      ['sample@v2', 'sample@v1'],
      ['sample@v1', null],
    ]);
  });

  it('an identical tree under another dataset name stores no new bytes', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    sampleTree(src);
    const copy = join(dir, 'copy');
    sampleTree(copy);
    await addVersion(ws, { source: src, name: 'sample' });
    const packs = packFiles(ws);
    const r = await addVersion(ws, { source: copy, name: 'sample-copy' });
    expect(r).toMatchObject({ ref: 'sample-copy@v1', unchanged: false, newBytes: 0, newChunks: 0, packs: 0 });
    expect(packFiles(ws)).toEqual(packs);
    expect((await listAll(ws)).map((d) => [d.name, d.versions])).toEqual([
      ['sample', 1],
      ['sample-copy', 1],
    ]);
  });

  it('content-defined chunking: an edit and an insert in a 16 MiB file store little', async () => {
    const { ws, dir } = await open();
    const file = join(dir, 'big.bin');
    const original = prng(42, 16 * MiB);
    writeFileSync(file, original);
    const v1 = await addVersion(ws, { source: file, name: 'big' });
    expect(v1.newBytes).toBeGreaterThanOrEqual(16 * MiB);
    // 100 KiB overwritten in the middle, 1 MiB inserted at 4 MiB: 16 MiB + 1 MiB in all.
    const edited = Buffer.from(original);
    prng(43, 100 * KiB).copy(edited, 8 * MiB);
    const modified = Buffer.concat([edited.subarray(0, 4 * MiB), prng(44, MiB), edited.subarray(4 * MiB)]);
    writeFileSync(file, modified);
    const v2 = await addVersion(ws, { source: file, name: 'big' });
    expect(v2).toMatchObject({ ref: 'big@v2', bytes: 17 * MiB, unchanged: false });
    expect(v2.newBytes).toBeGreaterThanOrEqual(MiB + 100 * KiB);
    expect(v2.newBytes).toBeLessThan(4 * MiB);
    const shown = await showVersion(ws, 'big@v2');
    expect(shown.listing[0]!.digest).toBe(`sha256:${sha(modified)}`);
  });

  it('refs: name, name@vN, name@tag, name@sha256:prefix; unknown → NOT_FOUND, malformed → INVALID_REF', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'a.txt': 'one' });
    const v1 = await addVersion(ws, { source: src, name: 'ds' });
    writeTree(src, { 'a.txt': 'two' });
    const v2 = await addVersion(ws, { source: src, name: 'ds' });
    await tagVersion(ws, 'ds@v1', 'golden');

    const ref = async (r: string) => (await resolveVersion(ws.meta.db, r)).ref;
    expect(await ref('ds')).toBe('ds@v2');
    expect(await ref('ds@latest')).toBe('ds@v2');
    expect(await ref('ds@v1')).toBe('ds@v1');
    expect(await ref('ds@v2')).toBe('ds@v2');
    expect(await ref('ds@golden')).toBe('ds@v1');
    expect(await ref(`ds@sha256:${v1.digest.slice(7, 19)}`)).toBe('ds@v1');
    expect(await ref(`ds@sha256:${v2.digest.slice(7).toUpperCase()}`)).toBe('ds@v2');

    await rejectsWith(resolveVersion(ws.meta.db, 'nope'), 'NOT_FOUND');
    await rejectsWith(resolveVersion(ws.meta.db, 'ds@v3'), 'NOT_FOUND');
    await rejectsWith(resolveVersion(ws.meta.db, 'ds@silver'), 'NOT_FOUND');
    // A prefix that is neither digest's.
    const other = [...'0123456789abcdef']
      .map((c) => c.repeat(8))
      .find((p) => !v1.digest.startsWith(`sha256:${p}`) && !v2.digest.startsWith(`sha256:${p}`))!;
    await rejectsWith(resolveVersion(ws.meta.db, `ds@sha256:${other}`), 'NOT_FOUND');
    for (const bad of [
      '',
      '@v1',
      'ds@',
      'ds@sha256:',
      'ds@sha256:abc',
      'ds@sha256:xyz1',
      'ds@v1@v2',
      '../ds',
      'ds@-x',
      'a b',
    ]) {
      const e = await rejectsWith(resolveVersion(ws.meta.db, bad), 'INVALID_REF');
      expect(e.exitCode).toBe(2);
    }
  });

  it('a digest prefix two versions share is AMBIGUOUS_REF', async () => {
    const { ws, dir } = await open();
    // Find two one-file trees whose root digests share their first 4 hex digits (birthday
    // search over 16 bits; a few hundred candidates suffice).
    const rootOf = (content: string) => {
      const d = sha(content);
      return buildTree([
        { path: 'f.txt', type: 'file', size: Buffer.byteLength(content), mode: '644', digest: d, chunks: [d] },
      ]).rootId;
    };
    const seen = new Map<string, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const c = `candidate ${i}\n`;
      const p = rootOf(c).slice(0, 4);
      const prev = seen.get(p);
      if (prev !== undefined) pair = [prev, c];
      else seen.set(p, c);
    }
    const src = join(dir, 'src');
    writeTree(src, { 'f.txt': pair[0] });
    const a = await addVersion(ws, { source: src, name: 'ds' });
    writeTree(src, { 'f.txt': pair[1] });
    const b = await addVersion(ws, { source: src, name: 'ds' });
    expect(a.digest).toBe(`sha256:${rootOf(pair[0])}`);
    expect(b.digest).toBe(`sha256:${rootOf(pair[1])}`);
    const prefix = a.digest.slice(7, 11);
    expect(b.digest.slice(7, 11)).toBe(prefix);
    const e = await rejectsWith(resolveVersion(ws.meta.db, `ds@sha256:${prefix}`), 'AMBIGUOUS_REF');
    expect(e.data.matches).toEqual(['ds@v1', 'ds@v2']);
    expect(e.exitCode).toBe(1);
    // Enough digits disambiguate.
    expect((await resolveVersion(ws.meta.db, `ds@sha256:${b.digest.slice(7, 30)}`)).ref).toBe('ds@v2');
  });

  it('tags: set, idempotent re-set, move only with force, reserved names refused', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'a.txt': 'one' });
    await addVersion(ws, { source: src, name: 'ds' });
    writeTree(src, { 'a.txt': 'two' });
    await addVersion(ws, { source: src, name: 'ds' });

    expect(await tagVersion(ws, 'ds@v1', 'prod')).toMatchObject({
      dataset: 'ds',
      tag: 'prod',
      ref: 'ds@v1',
      movedFrom: null,
    });
    expect(await tagVersion(ws, 'ds@v1', 'prod')).toMatchObject({ ref: 'ds@v1', movedFrom: null });
    const e = await rejectsWith(tagVersion(ws, 'ds@v2', 'prod'), 'ALREADY_EXISTS');
    expect(e.data).toEqual({ tag: 'prod', current: 'ds@v1' });
    expect((await resolveVersion(ws.meta.db, 'ds@prod')).ref).toBe('ds@v1');
    expect(await tagVersion(ws, 'ds@v2', 'prod', { force: true })).toMatchObject({ ref: 'ds@v2', movedFrom: 'ds@v1' });
    expect((await resolveVersion(ws.meta.db, 'ds@prod')).ref).toBe('ds@v2');

    for (const reserved of ['latest', 'v1', 'v99', 'sha256', 'sha256abc', '-x', '.hidden', 'a/b', 'has space', '']) {
      await rejectsWith(tagVersion(ws, 'ds@v1', reserved), 'INVALID_NAME');
    }
    await rejectsWith(tagVersion(ws, 'ds@v9', 'other'), 'NOT_FOUND');
    const log = await logOf(ws, 'ds');
    expect(log.map((v) => [v.ref, v.tags])).toEqual([
      ['ds@v2', ['prod']],
      ['ds@v1', []],
    ]);
    // Tag events: set, refused move, forced move. The no-op re-set changes nothing, and invalid
    // names and unknown refs fail before any attempt, so they leave no event.
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('action', '=', 'dataset.tag')
      .orderBy('idx')
      .execute();
    expect(events.map((e) => e.outcome)).toEqual(['ok', 'failed', 'ok']);
  });

  it('--from records lineage, shown as derivedFrom', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'all/a.txt': 'a', 'all/b.txt': 'b' });
    await addVersion(ws, { source: src, name: 'raw' });
    const d = await addVersion(ws, { source: join(src, 'all'), name: 'raw/subset', from: ['raw@v1'] });
    expect(d.ref).toBe('raw/subset@v1');
    expect((await showVersion(ws, 'raw/subset')).derivedFrom).toEqual(['raw@v1']);
    expect((await showVersion(ws, 'raw')).derivedFrom).toEqual([]);
    // An unknown --from ref fails before anything is written.
    await rejectsWith(addVersion(ws, { source: src, name: 'other', from: ['raw@v7'] }), 'NOT_FOUND');
    expect((await listAll(ws)).map((x) => x.name)).toEqual(['raw', 'raw/subset']);
  });

  it('status: clean, then exact added / removed / modified lists; touched files are not modified', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    sampleTree(src);
    const before = await statusOf(ws, src, 'sample');
    expect(before).toMatchObject({ dataset: 'sample', base: null, clean: false, removed: [], modified: [] });
    expect(before.added).toEqual([
      'README.md',
      'bin/run.sh',
      'data/latest.bin',
      'data/test/part-0.bin',
      'data/train/part-0.bin',
      'data/train/part-1.bin',
      'empty.txt',
    ]);

    await addVersion(ws, { source: src, name: 'sample' });
    expect(await statusOf(ws, src, 'sample')).toMatchObject({
      base: 'sample@v1',
      clean: true,
      added: [],
      removed: [],
      modified: [],
      unchanged: 6,
    });

    // Same bytes, new mtime: re-hashed, still unchanged.
    const t = new Date(Date.now() - 3_600_000);
    utimesSync(join(src, 'data/train/part-0.bin'), t, t);
    writeFileSync(join(src, 'README.md'), '# sample\n'); // rewritten with identical content
    const touched = await statusOf(ws, src, 'sample');
    expect(touched).toMatchObject({ clean: true, added: [], removed: [], modified: [], unchanged: 6 });
    expect(touched.hashed).toBeGreaterThanOrEqual(2);

    writeFileSync(join(src, 'data/train/part-1.bin'), prng(99, 70 * KiB)); // same size, new bytes
    writeFileSync(join(src, 'notes.txt'), 'new');
    rmSync(join(src, 'data/test/part-0.bin'));
    chmodSync(join(src, 'README.md'), 0o755);
    rmSync(join(src, 'data/latest.bin'));
    symlinkSync('train/part-1.bin', join(src, 'data/latest.bin'));
    symlinkSync('../README.md', join(src, 'bin/readme'));
    const s = await statusOf(ws, src, 'sample');
    expect(s).toMatchObject({
      clean: false,
      added: ['bin/readme', 'notes.txt'],
      removed: ['data/test/part-0.bin'],
      modified: ['README.md', 'data/latest.bin', 'data/train/part-1.bin'],
      unchanged: 3,
    });
    await rejectsWith(statusOf(ws, src, 'bad name!'), 'INVALID_NAME');
    await rejectsWith(statusOf(ws, join(dir, 'missing'), 'sample'), 'IO_ERROR');
  });

  it('bad dataset names are refused before anything is written', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'a.txt': 'a' });
    const eventsBefore = await ws.audit.size();
    for (const name of [
      '',
      ' ',
      'a b',
      '-lead',
      '.hidden',
      'x/',
      '/x',
      'a//b',
      'a/../b',
      'a..b',
      'ends.',
      'semi;colon',
      'ds@v1',
      'x'.repeat(201),
    ]) {
      const e = await rejectsWith(addVersion(ws, { source: src, name }), 'INVALID_NAME');
      expect(e.exitCode).toBe(2);
    }
    expect(await listAll(ws)).toEqual([]);
    expect(packFiles(ws)).toEqual([]);
    expect(await ws.audit.size()).toBe(eventsBefore);
    expect(statSync(join(ws.cairnDir, 'objects')).isDirectory()).toBe(true);
  });
});
