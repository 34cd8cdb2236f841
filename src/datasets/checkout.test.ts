import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { statusOf } from './status.js';
import { sha256Hex as sha } from '../core/digest.js';
import { rejectsWith } from '../test-support/assert.js';

const KiB = 1024;

type Node = { type: 'file'; sha: string; mode: string } | { type: 'symlink'; target: string } | { type: 'dir' };

/** Every entry under `root` (lstat, never following links): path → type, content hash, mode. */
function snapshot(root: string, rel = '', out: Record<string, Node> = {}): Record<string, Node> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const abs = join(root, p);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) out[p] = { type: 'symlink', target: readlinkSync(abs) };
    else if (st.isDirectory()) {
      out[p] = { type: 'dir' };
      snapshot(root, p, out);
    } else out[p] = { type: 'file', sha: sha(readFileSync(abs)), mode: (st.mode & 0o777).toString(8) };
  }
  return out;
}

/** Like snapshot, but modes reduced to "executable or not" (checkout writes 644 / 755). */
function contentOf(root: string): Record<string, Node> {
  const s = snapshot(root);
  for (const v of Object.values(s)) if (v.type === 'file') v.mode = (parseInt(v.mode, 8) & 0o111) !== 0 ? 'x' : '-';
  return s;
}

describe('datasets: checkout', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  /** v1: a tree with nested dirs, an empty dir, a symlink and an executable; v2 edits it. */
  async function twoVersions() {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const src = join(dir, 'src');
    writeTree(src, {
      'README.md': '# data\n',
      'bin/tool': '#!/bin/sh\nexit 0\n',
      'a/b/c/deep.bin': prng(11, 3 * 1024 * KiB),
      'a/small.txt': 'small',
      'only-v1.txt': 'gone in v2',
      'old/dir/file.txt': 'the whole directory goes in v2',
      'empty-file': '',
    });
    chmodSync(join(src, 'bin/tool'), 0o755);
    mkdirSync(join(src, 'a/empty'), { recursive: true });
    symlinkSync('b/c/deep.bin', join(src, 'a/deep-link'));
    symlinkSync('a', join(src, 'dir-link'));
    const v1Content = contentOf(src);
    await addVersion(ws, { source: src, name: 'ds' });
    rmSync(join(src, 'only-v1.txt'));
    rmSync(join(src, 'old'), { recursive: true });
    writeFileSync(join(src, 'a/small.txt'), 'small, edited');
    writeFileSync(join(src, 'new.txt'), 'new in v2');
    const v2Content = contentOf(src);
    await addVersion(ws, { source: src, name: 'ds' });
    return { ws, dir, src, v1Content, v2Content };
  }

  it('materializes a version byte-identical: every file hash, 755 modes, symlinks, empty dirs', async () => {
    const { ws, dir, v1Content } = await twoVersions();
    const out = join(dir, 'out');
    const r = await checkoutVersion(ws, { ref: 'ds@v1', dir: out });
    expect(r).toMatchObject({ ref: 'ds@v1', target: out, written: 9, removed: 0, unchanged: 0, untracked: [] });
    expect(r.bytes).toBe(3 * 1024 * KiB + 7 + 17 + 5 + 10 + 30);
    expect(contentOf(out)).toEqual(v1Content);
    expect(statSync(join(out, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(statSync(join(out, 'README.md')).mode & 0o777).toBe(0o644);
    expect(readlinkSync(join(out, 'a/deep-link'))).toBe('b/c/deep.bin');
    expect(readFileSync(join(out, 'dir-link/small.txt'), 'utf8')).toBe('small');
    expect(readdirSync(join(out, 'a/empty'))).toEqual([]);
    // Status compares with the latest version (v2): exactly v1's differences show.
    expect(await statusOf(ws, out, 'ds')).toMatchObject({
      base: 'ds@v2',
      clean: false,
      added: ['old/dir/file.txt', 'only-v1.txt'],
      removed: ['new.txt'],
      modified: ['a/small.txt'],
    });
    const again = await checkoutVersion(ws, { ref: 'ds@v1', dir: out });
    expect(again).toMatchObject({ written: 0, removed: 0, unchanged: 9 });
  });

  it('switching versions replaces changed files, removes files only the old one had, leaves untracked files alone', async () => {
    const { ws, dir, v1Content, v2Content } = await twoVersions();
    const out = join(dir, 'out');
    await checkoutVersion(ws, { ref: 'ds@v1', dir: out });
    writeFileSync(join(out, 'mine.txt'), 'untracked, keep me');
    mkdirSync(join(out, 'scratch'));
    writeFileSync(join(out, 'scratch/notes'), 'mine too');
    const r = await checkoutVersion(ws, { ref: 'ds@v2', dir: out });
    expect(r).toMatchObject({ ref: 'ds@v2', removed: 2, untracked: ['mine.txt', 'scratch/notes'] });
    expect(r.written).toBe(2); // a/small.txt (changed) and new.txt
    const expected: Record<string, Node> = {
      ...v2Content,
      'mine.txt': { type: 'file', sha: sha('untracked, keep me'), mode: '-' },
      scratch: { type: 'dir' },
      'scratch/notes': { type: 'file', sha: sha('mine too'), mode: '-' },
    };
    expect(contentOf(out)).toEqual(expected);
    // And back: v1's files return, v2-only ones go, untracked stay.
    const back = await checkoutVersion(ws, { ref: 'ds@v1', dir: out });
    expect(back).toMatchObject({ removed: 1, untracked: ['mine.txt', 'scratch/notes'] });
    expect(contentOf(out)).toEqual({
      ...v1Content,
      'mine.txt': expected['mine.txt']!,
      scratch: { type: 'dir' },
      'scratch/notes': expected['scratch/notes']!,
    });
  });

  it('refuses to overwrite local edits (LOCAL_CHANGES lists them); --force overwrites', async () => {
    const { ws, dir, v1Content } = await twoVersions();
    const out = join(dir, 'out');
    await checkoutVersion(ws, { ref: 'ds@v2', dir: out });
    writeFileSync(join(out, 'a/small.txt'), 'my local edit');
    writeFileSync(join(out, 'new.txt'), 'edited, and v1 deletes it');
    writeFileSync(join(out, 'only-v1.txt'), 'an untracked file where v1 has another');
    const before = snapshot(out);
    const e = await rejectsWith(checkoutVersion(ws, { ref: 'ds@v1', dir: out }), 'LOCAL_CHANGES');
    expect(e.exitCode).toBe(1);
    const conflicts = [...(e.data.conflicts as Array<{ path: string; reason: string }>)].sort((x, y) =>
      x.path.localeCompare(y.path),
    );
    expect(conflicts).toEqual([
      { path: 'a/small.txt', reason: expect.stringMatching(/modified/) },
      { path: 'new.txt', reason: expect.stringMatching(/modified.*deletes/) },
      { path: 'only-v1.txt', reason: expect.stringMatching(/untracked/) },
    ]);
    expect(e.message).toContain('a/small.txt');
    // Nothing moved.
    expect(snapshot(out)).toEqual(before);

    const r = await checkoutVersion(ws, { ref: 'ds@v1', dir: out, force: true });
    expect(r.ref).toBe('ds@v1');
    expect(contentOf(out)).toEqual(v1Content);
  });

  it('a directory where the version has a file (and vice versa) is a conflict unless forced', async () => {
    const { ws, dir } = await twoVersions();
    const out = join(dir, 'out');
    mkdirSync(join(out, 'README.md'), { recursive: true });
    writeFileSync(join(out, 'README.md/inside'), 'x');
    const e = await rejectsWith(checkoutVersion(ws, { ref: 'ds@v1', dir: out }), 'LOCAL_CHANGES');
    // Paths are the contract; the reason is prose for people.
    expect(e.data.conflicts).toEqual([{ path: 'README.md', reason: expect.stringMatching(/directory.*in the way/) }]);
    expect(readFileSync(join(out, 'README.md/inside'), 'utf8')).toBe('x');
  });

  it('--link hardlink links read-only cache files; --link copy makes independent files', async () => {
    const { ws, dir, v1Content } = await twoVersions();
    const hard = join(dir, 'hard');
    const r = await checkoutVersion(ws, { ref: 'ds@v1', dir: hard, link: 'hardlink' });
    expect(r.method).toBe('hardlink');
    expect(contentOf(hard)).toEqual(v1Content);
    for (const f of ['README.md', 'a/b/c/deep.bin', 'bin/tool']) {
      const st = statSync(join(hard, f));
      expect(st.nlink, f).toBeGreaterThan(1);
      expect(st.mode & 0o222, `${f} must be read-only`).toBe(0);
    }
    expect(statSync(join(hard, 'bin/tool')).mode & 0o111).toBe(0o111);
    // A second hardlinked checkout shares the same inodes.
    const hard2 = join(dir, 'hard2');
    await checkoutVersion(ws, { ref: 'ds@v1', dir: hard2, link: 'hardlink' });
    expect(statSync(join(hard2, 'a/b/c/deep.bin')).ino).toBe(statSync(join(hard, 'a/b/c/deep.bin')).ino);

    const copy = join(dir, 'copy');
    const c = await checkoutVersion(ws, { ref: 'ds@v1', dir: copy, link: 'copy' });
    expect(c.method).toBe('copy');
    expect(contentOf(copy)).toEqual(v1Content);
    for (const f of ['README.md', 'a/b/c/deep.bin', 'bin/tool']) {
      const st = statSync(join(copy, f));
      expect(st.nlink, f).toBe(1);
      expect(st.mode & 0o200, `${f} must be writable`).toBe(0o200);
    }
  });

  it('checkout into a path that is a file is a usage error; unknown refs are NOT_FOUND and create nothing', async () => {
    const { ws, dir } = await twoVersions();
    writeFileSync(join(dir, 'afile'), 'x');
    const e = await rejectsWith(checkoutVersion(ws, { ref: 'ds@v1', dir: join(dir, 'afile') }), 'USAGE');
    expect(e.exitCode).toBe(2);
    await rejectsWith(checkoutVersion(ws, { ref: 'ds@v9', dir: join(dir, 'nope') }), 'NOT_FOUND');
    await rejectsWith(checkoutVersion(ws, { ref: 'other', dir: join(dir, 'nope') }), 'NOT_FOUND');
    await rejectsWith(checkoutVersion(ws, { ref: 'ds@@', dir: join(dir, 'nope') }), 'INVALID_REF');
    expect(readdirSync(dir).sort()).toEqual(['.cairn', 'afile', 'src']);
  });
});
