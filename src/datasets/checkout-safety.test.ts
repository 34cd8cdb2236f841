// Issue 10, items 2 and 9: checkout must never destroy the workspace, never write a file that
// is not the one the tree names, and never follow a chain of links out of the tree.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { sha256Hex as sha } from '../core/digest.js';
import { BlobKind } from '../storage/pack/format.js';
import { rejectsWith } from '../test-support/assert.js';
import { handNode, plantVersion } from '../test-support/plant.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, reopen, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { materializedVersion } from './materialized.js';
import { listAll } from './queries.js';

const MiB = 1024 * 1024;

/** Every path under a directory (lstat: links are not followed). */
function paths(root: string, rel = ''): string[] {
  if (!existsSync(join(root, rel))) return [];
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if (lstatSync(join(root, p)).isDirectory()) out.push(...paths(root, p));
  }
  return out;
}

/** Bytes of the files that make a workspace what it is. */
function workspaceFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ['.cairn/meta.db', '.cairn/config.json', '.cairn/keys/signing.key', '.cairn/keys/signing.pub'])
    out[p] = sha(readFileSync(join(dir, p)));
  return out;
}

describe('checkout never destroys the workspace (.cairn is reserved)', () => {
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

  const payload = Buffer.from('pwned');
  const file = (name: string) => ({ name, type: 'file', size: payload.length, mode: '644', digest: sha(payload) });

  it.each([
    ['.cairn/meta.db at the root', false],
    ['a nested a/.cairn/meta.db', true],
  ])('a version whose tree holds %s is refused; meta.db and the signing key stay', async (_what, nested) => {
    const { ws, dir } = await open();
    const keys = handNode([file('signing.key')]);
    const meta = handNode([{ name: 'keys', type: 'dir', tree: keys.id, files: 1, size: 5 }, file('meta.db')]);
    const cairn = { name: '.cairn', type: 'dir', tree: meta.id, files: 2, size: 10 };
    const a = handNode([cairn]);
    const root = handNode([nested ? { name: 'a', type: 'dir', tree: a.id, files: 2, size: 10 } : cairn, file('z.txt')]);
    const trees = [keys, meta, ...(nested ? [a] : []), root].map((n) => ({ kind: BlobKind.tree, bytes: n.bytes }));
    await plantVersion(ws, 'evil', root.id, [{ kind: BlobKind.chunk, bytes: payload }, ...trees]);
    const before = workspaceFiles(dir);
    const e = await rejectsWith(checkoutVersion(ws, { ref: 'evil@v1', dir }), 'PATH_UNSAFE');
    expect(e.message).toContain('.cairn');
    await rejectsWith(checkoutVersion(ws, { ref: 'evil@v1', dir, force: true }), 'PATH_UNSAFE');
    expect(workspaceFiles(dir)).toEqual(before);
    expect(existsSync(join(dir, 'z.txt'))).toBe(false);
    await rejectsWith(materializedVersion(ws, root.id), 'PATH_UNSAFE');
    // The workspace still opens.
    const again = await reopen(dir);
    await again.close();
  });

  it('refuses .cairn (or anything inside it, or a link to it) as a checkout target, even with --force', async () => {
    const { ws, dir } = await open();
    writeTree(join(dir, 'src'), { 'meta.db': 'not a database', 'keys/signing.key': 'not a key' });
    await addVersion(ws, { source: join(dir, 'src'), name: 'x' });
    symlinkSync('.cairn', join(dir, 'sneaky'));
    const before = workspaceFiles(dir);
    for (const target of ['.cairn', '.cairn/cache/out', 'sneaky', 'sneaky/keys', join('src', '..', '.cairn')]) {
      await rejectsWith(checkoutVersion(ws, { ref: 'x', dir: join(dir, target), force: true }), 'PATH_UNSAFE');
    }
    expect(workspaceFiles(dir)).toEqual(before);
    expect(existsSync(join(dir, '.cairn/cache/out'))).toBe(false);
    // The refused attempts are on the record.
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select('outcome')
      .where('action', '=', 'dataset.checkout')
      .execute();
    expect(ev.map((x) => x.outcome)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
  });

  it('data add refuses .cairn as a source and skips a nested workspace inside a folder', async () => {
    const { ws, dir } = await open();
    await rejectsWith(addVersion(ws, { source: join(dir, '.cairn'), name: 'meta' }), 'PATH_UNSAFE');
    await rejectsWith(addVersion(ws, { source: join(dir, '.cairn', 'meta.db'), name: 'meta' }), 'PATH_UNSAFE');
    const lone = join(dir, 'elsewhere');
    writeTree(lone, { '.cairn': 'a file named .cairn' });
    await rejectsWith(addVersion(ws, { source: join(lone, '.cairn'), name: 'meta' }), 'PATH_UNSAFE');
    writeTree(join(dir, 'proj'), { 'data.txt': 'd', 'sub/.cairn/meta.db': 'nested workspace' });
    const r = await addVersion(ws, { source: join(dir, 'proj'), name: 'proj' });
    expect(r.files).toBe(1);
    // A workspace root added as a folder: its own .cairn is left out.
    writeFileSync(join(dir, 'top.txt'), 'top');
    const whole = await addVersion(ws, { source: dir, name: 'whole' });
    const out = join(tmp(), 'out');
    await checkoutVersion(ws, { ref: whole.ref, dir: out });
    expect(paths(out).filter((p) => p.includes('.cairn'))).toEqual([]);
    expect((await listAll(ws)).map((d) => d.name).sort()).toEqual(['proj', 'whole']);
  });
});

describe('checkout writes only verified files, under their final names only when whole', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  /** A version with one file whose entry lies about `digest` or `size` (chunks intact). */
  async function lying(lie: { digest?: string; size?: number }, bytes: Buffer, chunks?: Buffer[]) {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const parts = chunks ?? [bytes];
    const entry = {
      name: 'data.bin',
      type: 'file',
      size: lie.size ?? bytes.length,
      mode: '644',
      digest: lie.digest ?? sha(bytes),
      ...(parts.length > 1 || sha(parts[0]!) !== (lie.digest ?? sha(bytes))
        ? { chunks: parts.map((c) => sha(c)) }
        : {}),
    };
    const root = handNode([entry, { name: 'ok.txt', type: 'file', size: 2, mode: '644', digest: sha('ok') }]);
    await plantVersion(ws, 'lie', root.id, [
      ...parts.map((c) => ({ kind: BlobKind.chunk, bytes: c })),
      { kind: BlobKind.chunk, bytes: Buffer.from('ok') },
      { kind: BlobKind.tree, bytes: root.bytes },
    ]);
    return { ws, dir, root };
  }

  it.each([
    [
      'a small file whose digest is not its bytes',
      () => ({ bytes: prng(1, 5000), lie: { digest: sha('something else') } }),
    ],
    ['a file whose size is larger than its chunks', () => ({ bytes: prng(2, 5000), lie: { size: 6000 } })],
    ['a file whose size is smaller than its chunks', () => ({ bytes: prng(3, 5000), lie: { size: 10 } })],
  ])('%s: CORRUPT_OBJECT, nothing under the final name, no temp file', async (_what, make) => {
    const { bytes, lie } = make();
    const { ws, dir, root } = await lying(lie, bytes);
    for (const link of ['copy', 'hardlink'] as const) {
      const out = join(dir, `out-${link}`);
      const e = await rejectsWith(checkoutVersion(ws, { ref: 'lie', dir: out, link }), 'CORRUPT_OBJECT');
      expect(e.message).toContain('data.bin');
      expect(paths(out), link).toEqual([]);
    }
    await rejectsWith(materializedVersion(ws, root.id), 'CORRUPT_OBJECT');
    expect(readdirSync(join(ws.cacheDir, 'versions'))).toEqual([]);
    expect(paths(join(ws.cacheDir, 'files')).filter((p) => !p.endsWith('.print') && p.length > 2)).toEqual([]);
  });

  it('a large file (written in parallel segments) whose digest lies is checked whole before it gets its name', async () => {
    const a = prng(4, 12 * MiB);
    const b = prng(5, 12 * MiB);
    const { ws, dir } = await lying({ digest: sha(Buffer.concat([b, a])) }, Buffer.concat([a, b]), [a, b]);
    const out = join(dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'mine.txt'), 'untracked, mine');
    const e = await rejectsWith(checkoutVersion(ws, { ref: 'lie', dir: out, link: 'copy' }), 'CORRUPT_OBJECT');
    expect(e.data).toEqual({ path: 'data.bin' });
    // Nothing new, nothing of the user's removed.
    expect(paths(out)).toEqual(['mine.txt']);
    expect(readFileSync(join(out, 'mine.txt'), 'utf8')).toBe('untracked, mine');
  });
});

describe('symlink chains are resolved against the whole tree', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('data add refuses d/up -> .. with y -> d/up/../.. (each harmless alone): no version, no pack', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const src = join(dir, 'src');
    writeTree(src, { 'd/file.txt': 'x' });
    symlinkSync('..', join(src, 'd/up'));
    symlinkSync('d/up/../..', join(src, 'y'));
    const packs = paths(join(ws.cairnDir, 'objects'));
    const e = await rejectsWith(addVersion(ws, { source: src, name: 'chain' }), 'PATH_UNSAFE');
    expect(e.data).toEqual({ path: 'y', target: 'd/up/../..' });
    expect(await listAll(ws)).toEqual([]);
    expect(paths(join(ws.cairnDir, 'objects'))).toEqual(packs);
  });

  it('a planted version with such a chain is refused at checkout before anything is written', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const d = handNode([{ name: 'up', type: 'symlink', target: '..' }]);
    const root = handNode([
      { name: 'd', type: 'dir', tree: d.id, files: 0, size: 0 },
      { name: 'y', type: 'symlink', target: 'd/up/../..' },
    ]);
    await plantVersion(ws, 'chain', root.id, [
      { kind: BlobKind.tree, bytes: d.bytes },
      { kind: BlobKind.tree, bytes: root.bytes },
    ]);
    const out = join(dir, 'work', 'out');
    await rejectsWith(checkoutVersion(ws, { ref: 'chain', dir: out }), 'PATH_UNSAFE');
    expect(paths(join(dir, 'work'))).toEqual(existsSync(out) ? ['out'] : []);
    await rejectsWith(materializedVersion(ws, root.id), 'PATH_UNSAFE');
  });
});
