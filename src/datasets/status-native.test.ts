import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import { openFolderCache, statusByFolders, type FolderStatus } from '../storage/statcache/folder-status.js';
import { nativeStatBatch, type StatBatch } from '../storage/statcache/native.js';
import { StatChildren } from '../storage/statcache/stat-children.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace } from '../test-support/workspace.js';
import { addVersion } from './add.js';

const nb = nativeStatBatch();
/** Past the racy window: `add` then records settled folder stats (status skips listing them). */
const settle = () => new Promise((res) => setTimeout(res, 2100));

type Answer = Omit<FolderStatus, 'save' | 'via'> | { error: string };

describe.skipIf(!nb)('status with the native stat batch answers what the stat children and workers answer', () => {
  const tmp = useTempDirs();
  const open = new Set<Workspace>();
  afterEach(async () => {
    for (const ws of open) await ws.close();
    open.clear();
  });

  /** A tree added as dataset `h` (settled first), with twin folders of hard links. */
  async function added(): Promise<{ ws: Workspace; src: string; version: string }> {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    open.add(ws);
    const src = join(dir, 'src');
    for (const d of ['a', 'x', 'y', 'z']) fs.mkdirSync(join(src, d), { recursive: true });
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(join(src, 'a', `f${i}`), `a${i}`);
      fs.writeFileSync(join(src, 'x', `f${i}`), `x${i}`);
      // y's files are x's (hard links: the same inode, size and times).
      fs.linkSync(join(src, 'x', `f${i}`), join(src, 'y', `f${i}`));
      fs.writeFileSync(join(src, 'z', `f${i}`), `z${i}`);
    }
    fs.writeFileSync(join(src, 'line\nbreak'), 'nl');
    fs.writeFileSync(join(src, 't'), 'turns into a folder');
    await settle();
    await addVersion(ws, { source: src, name: 'h' });
    const ds = await findDataset(ws.meta.db, 'h');
    return { ws, src, version: (await latestVersion(ws.meta.db, ds!.id))!.digest };
  }

  async function answer(
    ws: Workspace,
    src: string,
    version: string,
    how: 'native' | 'children' | 'workers',
    batch: StatBatch | null = nb,
  ): Promise<Answer> {
    const kids = how === 'children' ? StatChildren.start(2) : null;
    try {
      const cache = openFolderCache(ws.cacheDir, src, version)!;
      const r = await statusByFolders(ws.pool, src, cache, undefined, kids, how === 'native' ? batch : null);
      expect(r?.via).toBe(how);
      const { save: _save, via: _via, ...rest } = r!;
      return rest;
    } catch (err) {
      return { error: (err as { code?: string }).code ?? String(err) };
    } finally {
      await kids?.close();
    }
  }

  async function threeWays(ws: Workspace, src: string, version: string): Promise<Answer> {
    const native = await answer(ws, src, version, 'native');
    expect(await answer(ws, src, version, 'children')).toEqual(native);
    expect(await answer(ws, src, version, 'workers')).toEqual(native);
    return native;
  }

  it('on a hostile tree: odd and non-UTF-8 names, a file turned folder, folders turned link and twin', async () => {
    const { ws, src, version } = await added();
    expect(await threeWays(ws, src, version)).toMatchObject({ identical: true, unchanged: 22 });
    // Newlines in new names.
    fs.writeFileSync(join(src, 'a', 'new\nline'), 'n');
    fs.rmSync(join(src, 't'));
    fs.mkdirSync(join(src, 't'));
    fs.writeFileSync(join(src, 't', 'inside'), 'i');
    // x becomes a link to y (the same files by inode); z's folder becomes a twin of itself.
    fs.renameSync(join(src, 'x'), join(src, '..', 'x-old'));
    fs.symlinkSync('y', join(src, 'x'));
    fs.renameSync(join(src, 'z'), join(src, '..', 'z-old'));
    fs.mkdirSync(join(src, 'z'));
    for (let i = 0; i < 5; i++) fs.linkSync(join(src, '..', 'z-old', `f${i}`), join(src, 'z', `f${i}`));
    const got = await threeWays(ws, src, version);
    expect(got).toMatchObject({
      added: ['a/new\nline', 't/inside', 'x'],
      removed: ['t', 'x/f0', 'x/f1', 'x/f2', 'x/f3', 'x/f4'],
      modified: [],
      identical: false,
    });
    // Names that are not UTF-8 (in a folder of the version, in the root): refused by all three,
    // never skipped (the file they name is there; the name Node decodes is not).
    fs.writeFileSync(Buffer.from(`${src}/a/bad-\xff`, 'latin1'), 'z');
    expect(await threeWays(ws, src, version)).toEqual({ error: 'INVALID_INPUT' });
    fs.rmSync(Buffer.from(`${src}/a/bad-\xff`, 'latin1'));
    fs.writeFileSync(Buffer.from(`${src}/bad-\xfe-\xff`, 'latin1'), 'r');
    expect(await threeWays(ws, src, version)).toEqual({ error: 'INVALID_INPUT' });
    fs.rmSync(Buffer.from(`${src}/bad-\xfe-\xff`, 'latin1'));
    // A link out of the tree and a FIFO: refused, the same way by all three.
    fs.symlinkSync('../../etc/passwd', join(src, 'a', 'out'));
    expect(await threeWays(ws, src, version)).toEqual({ error: 'PATH_UNSAFE' });
    fs.rmSync(join(src, 'a', 'out'));
    const fifo = join(src, 'a', 'fifo');
    if (spawnFifo(fifo)) expect(await threeWays(ws, src, version)).toEqual({ error: 'INVALID_INPUT' });
  }, 60_000);

  it('a folder swapped for a link (to a twin of hard links) mid-status is never trusted through the link', async () => {
    const { ws, src, version } = await added();
    const statuses: number[] = [];
    // Swaps x for a link to y between the comparison's lstat of x and the addon's open of it.
    const swapping: StatBatch = {
      async statFolder(path, dev, ino, names, spans) {
        const swap = path === join(src, 'x');
        if (swap) {
          fs.renameSync(join(src, 'x'), join(src, '..', 'x-old'));
          fs.symlinkSync('y', join(src, 'x'));
        }
        const res = await nb!.statFolder(path, dev, ino, names, spans);
        if (swap) statuses.push(res.status);
        return res;
      },
    };
    const got = await answer(ws, src, version, 'native', swapping);
    // The addon refused the link (O_NOFOLLOW); the comparison then found x gone: its files are
    // removed, none counted unchanged through y's identical inodes. (The root's record comes
    // after x's, so its own stat has changed by then: it is listed and shows the link.)
    expect(statuses).toEqual([1]);
    const want = { removed: ['x/f0', 'x/f1', 'x/f2', 'x/f3', 'x/f4'], added: ['x'], modified: [], unchanged: 17 };
    expect(got).toMatchObject(want);
    // Every way answers the same on the tree as it is now.
    expect(await threeWays(ws, src, version)).toMatchObject(want);
  }, 60_000);
});

/** A FIFO at `path` (mkfifo), when the machine has the tool. */
function spawnFifo(path: string): boolean {
  try {
    execFileSync('mkfifo', [path]);
    return true;
  } catch {
    return false;
  }
}
