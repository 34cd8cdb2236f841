import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { remoteBackendConformance } from '../conformance.case.js';
import { FsBackend } from './fs-backend.js';

remoteBackendConformance('file://', () => ({
  open: async () => new FsBackend(mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'))),
  reopen: async (b) => new FsBackend((b as FsBackend).root),
}));

describe('FsBackend', () => {
  it('leaves no temporary file behind and never lists its temp folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const b = new FsBackend(root);
    await b.put('a/b', Buffer.from('x'));
    expect(readdirSync(join(root, '.cairn-tmp'))).toEqual([]);
    expect(await b.list('')).toEqual([{ key: 'a/b', size: 1 }]);
  });

  it('writes and deletes nothing through a folder someone linked out of the remote (PATH_UNSAFE)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const outside = mkdtempSync(join(tmpdir(), 'cairn-outside-'));
    const b = new FsBackend(root);
    await b.put('packs/ab/keep.pack', Buffer.from('in'));
    mkdirSync(join(outside, 'cd'));
    writeFileSync(join(outside, 'cd', 'victim.pack'), 'theirs');
    symlinkSync(outside, join(root, 'meta'));
    symlinkSync(join(outside, 'cd'), join(root, 'packs', 'cd'));
    const unsafe = { code: 'PATH_UNSAFE' };
    await expect(b.put('meta/state.json', Buffer.from('{}'))).rejects.toMatchObject({
      ...unsafe,
      data: { link: 'meta' },
    });
    await expect(b.put('packs/cd/new.pack', Buffer.from('x'))).rejects.toMatchObject(unsafe);
    await expect(b.delete('packs/cd/victim.pack')).rejects.toMatchObject({ ...unsafe, data: { link: 'packs/cd' } });
    expect(existsSync(join(outside, 'state.json'))).toBe(false);
    expect(readdirSync(join(outside, 'cd'))).toEqual(['victim.pack']);
    expect(readFileSync(join(outside, 'cd', 'victim.pack'), 'utf8')).toBe('theirs');
    // Real folders, and a root that is itself a link, work as before.
    const linkedRoot = join(outside, 'root-link');
    symlinkSync(root, linkedRoot);
    const viaLink = new FsBackend(linkedRoot);
    await viaLink.put('packs/ab/more.pack', Buffer.from('ok'));
    await viaLink.delete('packs/ab/keep.pack');
    expect(readdirSync(join(root, 'packs', 'ab'))).toEqual(['more.pack']);
    // The temp folder too: a put would write the object's bytes there first.
    const root2 = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    symlinkSync(outside, join(root2, '.cairn-tmp'));
    await expect(new FsBackend(root2).put('a/b', Buffer.from('x'))).rejects.toMatchObject({
      ...unsafe,
      data: { link: '.cairn-tmp' },
    });
  });

  it('a listing past the bound is stopped there (IO_ERROR, tooMany), not read whole', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const b = new FsBackend(root);
    for (let i = 0; i < 30; i++) await b.put(`packs/p${i % 3}/o${i}`, Buffer.from('x'));
    await expect(b.list('packs/', { maxKeys: 10 })).rejects.toMatchObject({
      code: 'IO_ERROR',
      data: { remote: b.url, prefix: 'packs/', maxKeys: 10, tooMany: true },
    });
    // The bound counts what the walk reads: 30 files in 3 folders.
    expect(await b.list('packs/', { maxKeys: 33 })).toHaveLength(30);
    expect(await b.list('packs/')).toHaveLength(30);
  });

  it('a key that is a device or a FIFO is no object: refused at once, never read (a link to /dev/zero never ends)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const b = new FsBackend(root);
    mkdirSync(join(root, 'packs', 'ab'), { recursive: true });
    symlinkSync('/dev/zero', join(root, 'packs', 'ab', 'zero.pack'));
    execFileSync('mkfifo', [join(root, 'packs', 'ab', 'fifo.pack')]);
    for (const key of ['packs/ab/zero.pack', 'packs/ab/fifo.pack'])
      await expect(b.get(key, { maxBytes: 1024 })).rejects.toMatchObject({ code: 'NOT_FOUND', data: { key } });
  });

  it('refuses a file larger than the caller expects, keeping nothing of it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-remote-fs-'));
    const b = new FsBackend(root);
    await b.put('packs/ab/p.pack', Buffer.alloc(5000, 1));
    await expect(b.get('packs/ab/p.pack', { maxBytes: 4999 })).rejects.toMatchObject({
      code: 'IO_ERROR',
      data: { key: 'packs/ab/p.pack', maxBytes: 4999, announced: 5000, tooLarge: true },
    });
    expect((await b.get('packs/ab/p.pack', { maxBytes: 5000 })).length).toBe(5000);
  });
});
