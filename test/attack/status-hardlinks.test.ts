// `data status` against the format-4 stat cache, where a settled folder is not listed again, with
// hard links: the random histories of src/datasets/status-property.test.ts make none. A file
// written through a link outside the tree (same size, mtime put back), and a name pointed at
// another file's inode inside a settled folder (folder mtime put back): status must name both.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../src/app/workspace.js';
import { addVersion } from '../../src/datasets/add.js';
import { statusOf } from '../../src/datasets/status.js';
import { findDataset, latestVersion } from '../../src/meta/repos/datasets.js';
import { openFolderCache, statusByFolders } from '../../src/storage/statcache/folder-status.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { newWorkspace } from '../../src/test-support/workspace.js';

const OLD = new Date(Date.now() - 7 * 86_400_000);

describe('attack: status with hard links in settled folders', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('names every path of an inode written through an outside link, and a name relinked to another inode', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const src = join(dir, 'src');
    const d = join(src, 'd');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(join(d, 'a.bin'), 'AAAAAAAA');
    fs.linkSync(join(d, 'a.bin'), join(d, 'b.bin'));
    fs.writeFileSync(join(d, 'c.bin'), 'CCCCCCCC');
    const outside = join(dir, 'outside.bin');
    fs.linkSync(join(d, 'a.bin'), outside);
    for (const p of [join(d, 'a.bin'), join(d, 'c.bin'), d, src]) fs.utimesSync(p, OLD, OLD);
    // Past the racy window (ctime cannot be put back): add records settled folder stats.
    await new Promise((r) => setTimeout(r, 2100));
    await addVersion(ws, { source: src, name: 'h' });
    // The fast path is in play: neither folder is listed again.
    const ds = (await findDataset(ws.meta.db, 'h'))!;
    const folders = openFolderCache(ws.cacheDir, src, (await latestVersion(ws.meta.db, ds.id))!.digest)!;
    const settled = (await statusByFolders(ws.pool, src, folders))!;
    expect({ identical: settled.identical, listed: settled.listed, records: folders.records.length }).toEqual({
      identical: true,
      listed: 0,
      records: 2,
    });

    // Written through the link outside the tree: same size, old mtime put back.
    fs.writeFileSync(outside, 'ZZZZZZZZ');
    fs.utimesSync(outside, OLD, OLD);
    const written = await statusOf(ws, src, 'h');
    expect(written.modified).toEqual(['d/a.bin', 'd/b.bin']);

    // c.bin becomes another name of a.bin's inode; the folder's mtime is put back.
    fs.unlinkSync(join(d, 'c.bin'));
    fs.linkSync(join(d, 'a.bin'), join(d, 'c.bin'));
    fs.utimesSync(d, OLD, OLD);
    const relinked = await statusOf(ws, src, 'h');
    expect(relinked.modified).toEqual(['d/a.bin', 'd/b.bin', 'd/c.bin']);
    expect(relinked.added).toEqual([]);
    expect(relinked.removed).toEqual([]);
  }, 60_000);
});
