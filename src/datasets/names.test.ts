import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import type { CairnError } from '../core/errors.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import { openFolderCache, statusByFolders } from '../storage/statcache/folder-status.js';
import { nativeStatBatch } from '../storage/statcache/native.js';
import { StatChildren } from '../storage/statcache/stat-children.js';
import { rejectsWith } from '../test-support/assert.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { statusOf } from './status.js';

const nb = nativeStatBatch();
/** Past the racy window: `add` then records settled folder stats (status skips listing them). */
const settle = () => new Promise((res) => setTimeout(res, 2100));
/** A file whose name is not UTF-8 (`name` written as latin1: each char one byte). */
const writeRaw = (dir: string, name: string, content = 'x') =>
  fs.writeFileSync(Buffer.from(`${dir}/${name}`, 'latin1'), content);

describe('names that are not UTF-8 are refused by every walk of a tree, with which file and what to do', () => {
  const tmp = useTempDirs();
  const open = new Set<Workspace>();
  afterEach(async () => {
    for (const ws of open) await ws.close();
    open.clear();
    delete process.env.CAIRN_NATIVE;
  });

  async function workspace(files: Record<string, string>): Promise<{ ws: Workspace; src: string }> {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    open.add(ws);
    const src = join(dir, 't');
    writeTree(src, files);
    return { ws, src };
  }

  function expectNamed(e: CairnError, shown: string, folder: string): void {
    expect(e.message).toContain(shown);
    expect(e.message).toContain(folder);
    expect(e.message).toContain('not valid UTF-8');
    expect(e.hint).toContain('rename');
  }

  it('add refuses one (top level or deep), naming it with its bytes escaped, and records nothing', async () => {
    const { ws, src } = await workspace({ 'a.txt': 'a', 'sub/deep/b.txt': 'b' });
    writeRaw(src, 'bad\xff.txt');
    const e = await rejectsWith(addVersion(ws, { source: src, name: 't' }), 'INVALID_INPUT');
    expectNamed(e, 'bad\\xff.txt', src);
    expect(e.data).toMatchObject({ path: 'bad\\xff.txt', bytes: Buffer.from('bad\xff.txt', 'latin1').toString('hex') });
    expect(await findDataset(ws.meta.db, 't')).toBeUndefined();
    fs.rmSync(Buffer.from(`${src}/bad\xff.txt`, 'latin1'));
    writeRaw(join(src, 'sub', 'deep'), 'caf\xe9');
    const d = await rejectsWith(addVersion(ws, { source: src, name: 't' }), 'INVALID_INPUT');
    expectNamed(d, 'caf\\xe9', join(src, 'sub', 'deep'));
    expect(d.data).toMatchObject({ path: 'sub/deep/caf\\xe9' });
    // A folder whose name is not UTF-8 is refused the same way.
    fs.rmSync(Buffer.from(`${src}/sub/deep/caf\xe9`, 'latin1'));
    fs.mkdirSync(Buffer.from(`${src}/sub/dir\xfe`, 'latin1'));
    expectNamed(await rejectsWith(addVersion(ws, { source: src, name: 't' }), 'INVALID_INPUT'), 'dir\\xfe', src);
  });

  for (const how of ['native', 'children', 'workers', 'full walk'] as const) {
    it.skipIf(how === 'native' && !nb)(
      `status (${how}) never answers clean with one present: it refuses as add does`,
      async () => {
        const { ws, src } = await workspace({ 'a.txt': 'a', 'sub/b.txt': 'b' });
        await settle();
        await addVersion(ws, { source: src, name: 't' });
        const status = async () => {
          if (how === 'full walk') return statusOf(ws, src, 'other');
          const ds = await findDataset(ws.meta.db, 't');
          const version = (await latestVersion(ws.meta.db, ds!.id))!.digest;
          const kids = how === 'children' ? StatChildren.start(2) : null;
          try {
            const cache = openFolderCache(ws.cacheDir, src, version)!;
            const r = await statusByFolders(ws.pool, src, cache, undefined, kids, how === 'native' ? nb : null);
            expect(r?.via).toBe(how);
            return r;
          } finally {
            await kids?.close();
          }
        };
        // In a listed folder (the root), in a folder that is new, then through statusOf itself.
        writeRaw(src, 'bad\xff.txt');
        expectNamed(await rejectsWith(status(), 'INVALID_INPUT'), 'bad\\xff.txt', src);
        fs.rmSync(Buffer.from(`${src}/bad\xff.txt`, 'latin1'));
        fs.mkdirSync(join(src, 'new'));
        writeRaw(join(src, 'new'), '\xe9t\xe9');
        expectNamed(await rejectsWith(status(), 'INVALID_INPUT'), '\\xe9t\\xe9', join(src, 'new'));
        if (how === 'native' || how === 'children') {
          if (how === 'children') process.env.CAIRN_NATIVE = '0';
          await rejectsWith(statusOf(ws, src, 't'), 'INVALID_INPUT');
        }
      },
    );
  }

  it('a name that really holds U+FFFD (valid UTF-8) is versioned, clean in status and checked out', async () => {
    const { ws, src } = await workspace({ 'ok\uFFFD.txt': 'replacement char', 'd\uFFFD/x': 'x' });
    const r = await addVersion(ws, { source: src, name: 't' });
    expect(r.files).toBe(2);
    for (const native of [true, false]) {
      if (!native) process.env.CAIRN_NATIVE = '0';
      expect(await statusOf(ws, src, 't')).toMatchObject({ clean: true, unchanged: 2 });
    }
    const out = join(tmp(), 'out');
    await checkoutVersion(ws, { ref: 't@v1', dir: out });
    expect(fs.readFileSync(join(out, 'ok\uFFFD.txt'), 'utf8')).toBe('replacement char');
  });

  it('names that differ only by Unicode normalization are two files: versioned and restored as two', async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    const { ws, src } = await workspace({ [nfc]: 'composed', [nfd]: 'decomposed' });
    const r = await addVersion(ws, { source: src, name: 't' });
    expect(r.files).toBe(2);
    expect(await statusOf(ws, src, 't')).toMatchObject({ clean: true, unchanged: 2 });
    const out = join(tmp(), 'out');
    await checkoutVersion(ws, { ref: 't@v1', dir: out });
    expect(fs.readdirSync(out).sort()).toEqual([nfc, nfd].sort());
    expect(fs.readFileSync(join(out, nfc), 'utf8')).toBe('composed');
    expect(fs.readFileSync(join(out, nfd), 'utf8')).toBe('decomposed');
  });

  it('checkout into a folder holding one refuses before touching anything', async () => {
    const { ws, src } = await workspace({ 'a.txt': 'a' });
    await addVersion(ws, { source: src, name: 't' });
    const out = join(tmp(), 'out');
    writeTree(out, { 'mine.txt': 'keep' });
    writeRaw(out, 'bad\xff');
    expectNamed(await rejectsWith(checkoutVersion(ws, { ref: 't@v1', dir: out }), 'INVALID_INPUT'), 'bad\\xff', out);
    expect(fs.readFileSync(join(out, 'mine.txt'), 'utf8')).toBe('keep');
    expect(fs.readdirSync(out, { encoding: 'buffer' })).toHaveLength(2);
  });
});
