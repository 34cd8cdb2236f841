// Issue 10, item 10: caches can be poisoned. A hardlinked checkout shares its inode with the
// file cache; a job can append to a materialized version. Whatever changed is detected
// (stat first, then the bytes), reported by fsck, and rebuilt rather than served.
import { appendFileSync, chmodSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { sha256Hex as sha } from '../core/digest.js';
import { runFsck } from '../store-admin/fsck.js';
import { runGc } from '../store-admin/gc.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { materializedVersion } from './materialized.js';

const KiB = 1024;

describe('caches are read-only, checked on use, and never serve changed bytes', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  async function setup() {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const files = { 'a.bin': prng(1, 100 * KiB), 'b/c.csv': Buffer.from('x,y\n1,2\n') };
    writeTree(join(dir, 'src'), files);
    const v = await addVersion(ws, { source: join(dir, 'src'), name: 'ds' });
    return { ws, dir, files, root: v.digest.slice(7) };
  }

  it('a hardlinked checkout edited in place poisons the file cache: fsck names it, the next checkout rebuilds it', async () => {
    const { ws, dir, files } = await setup();
    const h1 = join(dir, 'h1');
    await checkoutVersion(ws, { ref: 'ds', dir: h1, link: 'hardlink' });
    expect(statSync(join(h1, 'a.bin')).nlink).toBe(2);
    expect((await runFsck(ws)).ok).toBe(true);
    // The user makes their copy writable and appends to it: the cache entry is the same inode.
    chmodSync(join(h1, 'a.bin'), 0o644);
    appendFileSync(join(h1, 'a.bin'), 'poison');
    const f = await runFsck(ws);
    expect(f.ok).toBe(false);
    expect(f.poisonedCaches).toEqual([`files/${sha(files['a.bin']).slice(0, 2)}/${sha(files['a.bin'])}`]);
    expect(f.brokenVersions).toEqual([]);

    const h2 = join(dir, 'h2');
    await checkoutVersion(ws, { ref: 'ds', dir: h2, link: 'hardlink' });
    expect(sha(readFileSync(join(h2, 'a.bin')))).toBe(sha(files['a.bin']));
    expect(statSync(join(h2, 'a.bin')).ino).not.toBe(statSync(join(h1, 'a.bin')).ino);
    expect(await runFsck(ws)).toMatchObject({ ok: true, poisonedCaches: [] });
  });

  it('a touched (not changed) cache entry is still served: the bytes decide, not the stat', async () => {
    const { ws, dir, files } = await setup();
    await checkoutVersion(ws, { ref: 'ds', dir: join(dir, 'h1'), link: 'hardlink' });
    const entry = join(ws.cacheDir, 'files', sha(files['a.bin']).slice(0, 2), sha(files['a.bin']));
    const ino = statSync(entry).ino;
    utimesSync(entry, new Date(), new Date(Date.now() + 5000));
    expect((await runFsck(ws)).ok).toBe(true);
    await checkoutVersion(ws, { ref: 'ds', dir: join(dir, 'h2'), link: 'hardlink' });
    expect(statSync(join(dir, 'h2', 'a.bin')).ino).toBe(ino);
  });

  it('a materialized version is read-only; an appended, replaced or extra file is detected and the copy rebuilt', async () => {
    const { ws, files, root } = await setup();
    const dir = await materializedVersion(ws, root);
    expect(statSync(join(dir, 'a.bin')).mode & 0o222).toBe(0);
    expect(statSync(join(dir, 'b')).mode & 0o222).toBe(0);
    const read = (d: string) => ({
      'a.bin': sha(readFileSync(join(d, 'a.bin'))),
      'b/c.csv': sha(readFileSync(join(d, 'b/c.csv'))),
    });
    const want = { 'a.bin': sha(files['a.bin']), 'b/c.csv': sha(files['b/c.csv']) };

    const poisonings: Array<(d: string) => void> = [
      (d) => {
        chmodSync(join(d, 'b/c.csv'), 0o644);
        appendFileSync(join(d, 'b/c.csv'), '3,4\n');
      },
      (d) => {
        // Same size, other bytes.
        chmodSync(join(d, 'a.bin'), 0o644);
        writeFileSync(join(d, 'a.bin'), prng(2, 100 * KiB));
      },
      (d) => {
        chmodSync(join(d, 'b'), 0o755);
        writeFileSync(join(d, 'b/extra.csv'), 'x,y\n9,9\n');
      },
    ];
    for (const poison of poisonings) {
      const d = await materializedVersion(ws, root);
      poison(d);
      const f = await runFsck(ws);
      expect(f.poisonedCaches).toEqual([`versions/${root}`]);
      const again = await materializedVersion(ws, root);
      expect(read(again)).toEqual(want);
      expect(readdirSync(join(again, 'b'))).toEqual(['c.csv']);
      expect((await runFsck(ws)).poisonedCaches).toEqual([]);
    }
    // gc removes caches even with read-only directories.
    await runGc(ws);
    expect(readdirSync(ws.cacheDir).includes('versions')).toBe(false);
  });
});
