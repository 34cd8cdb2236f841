import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { canonicalJson } from '../core/canonical-json.js';
import { type ErrorCode } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { recordPacks } from '../meta/repos/chunks.js';
import { createDataset, insertVersion } from '../meta/repos/datasets.js';
import { BlobKind, type BlobKindCode } from '../storage/pack/format.js';
import { PackWriter } from '../storage/pack/writer.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { listAll } from './queries.js';
import { sha256Hex as sha } from '../core/digest.js';
import { rejectsWith } from '../test-support/assert.js';

/** Every path under a directory, recursively (lstat: links are not followed). */
function listAllPaths(root: string, rel = ''): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    out.push(p);
    if (lstatSync(join(root, p)).isDirectory()) out.push(...listAllPaths(root, p));
  }
  return out;
}

/** A tree node as a store would hold it: canonical JSON, id = its SHA-256. */
function node(entries: unknown[]): { id: string; bytes: Buffer } {
  const bytes = Buffer.from(canonicalJson({ v: 1, entries }), 'utf8');
  return { id: sha(bytes), bytes };
}

/**
 * Plants a version whose trees were made by hand (as a tampered store or a hostile remote
 * could deliver them): blobs go into a real pack, and the pack and a version row are
 * registered in one audited transaction, exactly as `data add` would.
 */
async function plantVersion(
  ws: Workspace,
  name: string,
  root: string,
  blobs: Array<{ kind: BlobKindCode; bytes: Buffer }>,
): Promise<void> {
  const w = await PackWriter.create(ws.packs);
  const seen = new Set<string>();
  for (const b of blobs) {
    const id = sha(b.bytes);
    if (seen.has(id)) continue;
    seen.add(id);
    w.append(b.kind, id, b.bytes);
  }
  const pack = await w.finish();
  await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name } }, async (commit) =>
    commit(async (tx) => {
      const now = new Date().toISOString();
      await recordPacks(tx, [pack], now);
      const dsId = uuidv7();
      await createDataset(tx, { id: dsId, name, created_at: now, created_by: 'mallory' });
      await insertVersion(tx, {
        id: uuidv7(),
        dataset_id: dsId,
        number: 1,
        digest: root,
        parent_id: null,
        message: 'hand-made',
        author: 'mallory',
        created_at: now,
        file_count: 1,
        total_bytes: 5,
        new_bytes: 0,
        stats: canonicalJson({
          files: 1,
          bytes: 5,
          dirs: 0,
          symlinks: 0,
          chunks: 1,
          newChunks: 0,
          newBytes: 0,
          extensions: [],
        }),
      });
    }),
  );
}

describe('path safety: nothing is ever written outside its root', () => {
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

  const packsAndTemps = (w: Workspace) => [
    ...listAllPaths(join(w.cairnDir, 'objects', 'packs')),
    ...listAllPaths(join(w.cairnDir, 'objects', 'tmp')),
  ];

  it.each([
    ['a link to ../outside at the top', 'escape', '../outside'],
    ['an absolute link', 'passwd', '/etc/passwd'],
    ['a nested link climbing out', 'sub/deeper/up', '../../../outside'],
    ['a link climbing just past the root', 'sub/up', '../..'],
  ])('add refuses a tree with %s (PATH_UNSAFE): no version, no pack', async (_what, linkPath, target) => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'ok.txt': 'fine', 'sub/deeper/data.bin': 'data' });
    symlinkSync(target, join(src, linkPath));
    const packs = packsAndTemps(ws);
    const e = await rejectsWith(addVersion(ws, { source: src, name: 'evil' }), 'PATH_UNSAFE');
    expect(e.data).toEqual({ path: linkPath, target });
    expect(e.exitCode).toBe(1);
    expect(await listAll(ws)).toEqual([]);
    expect(packsAndTemps(ws)).toEqual(packs);
    // The refused attempt is on the audit record.
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('action', '=', 'dataset.version.create')
      .execute();
    expect(ev).toEqual([{ action: 'dataset.version.create', outcome: 'failed' }]);
  });

  it('links that stay inside the tree (even to the root itself) are kept', async () => {
    const { ws, dir } = await open();
    const src = join(dir, 'src');
    writeTree(src, { 'a/b/file.txt': 'x' });
    symlinkSync('../b/file.txt', join(src, 'a/b/same'));
    symlinkSync('a', join(src, 'top'));
    symlinkSync('..', join(src, 'a/root'));
    const r = await addVersion(ws, { source: src, name: 'ok' });
    expect(r).toMatchObject({ ref: 'ok@v1', files: 1 });
    const out = join(dir, 'out');
    await checkoutVersion(ws, { ref: 'ok', dir: out });
    expect(listAllPaths(out)).toEqual(['a', 'a/b', 'a/b/file.txt', 'a/b/same', 'a/root', 'top']);
  });

  describe('a hand-made malicious version is refused at checkout', () => {
    const payload = Buffer.from('pwned');
    const chunk = { kind: BlobKind.chunk, bytes: payload };
    const fileEntry = (name: string) => ({
      name,
      type: 'file',
      size: payload.length,
      mode: '644',
      digest: sha(payload),
    });

    async function attempt(root: { id: string }, blobs: Array<{ kind: BlobKindCode; bytes: Buffer }>, code: ErrorCode) {
      const { ws, dir } = await open();
      await plantVersion(ws, 'evil', root.id, [chunk, ...blobs]);
      const outside = join(dir, 'outside');
      mkdirSync(outside);
      const target = join(dir, 'work', 'target');
      const e = await rejectsWith(checkoutVersion(ws, { ref: 'evil@v1', dir: target }), code);
      // Nothing outside the target; nothing written inside it either.
      expect(listAllPaths(outside)).toEqual([]);
      expect(listAllPaths(join(dir, 'work'))).toEqual(existsSync(target) ? ['target'] : []);
      expect(readdirSync(dir).filter((n) => !['.cairn', 'outside', 'work'].includes(n))).toEqual([]);
      expect(existsSync('/tmp/escaped.txt')).toBe(false);
      return e;
    }

    it('a directory named ..', async () => {
      const sub = node([fileEntry('escaped.txt')]);
      const root = node([{ name: '..', type: 'dir', tree: sub.id, size: 5, files: 1 }]);
      const e = await attempt(
        root,
        [
          { kind: BlobKind.tree, bytes: sub.bytes },
          { kind: BlobKind.tree, bytes: root.bytes },
        ],
        'PATH_UNSAFE',
      );
      expect(e.data).toMatchObject({ tree: root.id, name: '..' });
    });

    it('a file named with slashes climbing out', async () => {
      const root = node([fileEntry('../../outside/escaped.txt')]);
      await attempt(root, [{ kind: BlobKind.tree, bytes: root.bytes }], 'PATH_UNSAFE');
    });

    it('an absolute file name', async () => {
      const root = node([fileEntry('/tmp/escaped.txt')]);
      await attempt(root, [{ kind: BlobKind.tree, bytes: root.bytes }], 'PATH_UNSAFE');
    });

    it('a file named . or with a NUL byte', async () => {
      for (const name of ['.', 'a\u0000b']) {
        const root = node([fileEntry(name)]);
        await attempt(root, [{ kind: BlobKind.tree, bytes: root.bytes }], 'PATH_UNSAFE');
        await ws!.close();
        ws = null;
      }
    });

    it('a symlink climbing out of the root', async () => {
      const root = node([fileEntry('a.txt'), { name: 'escape', type: 'symlink', target: '../../outside' }]);
      const e = await attempt(root, [{ kind: BlobKind.tree, bytes: root.bytes }], 'PATH_UNSAFE');
      expect(e.data).toEqual({ path: 'escape', target: '../../outside' });
    });

    it('an absolute symlink in a subdirectory', async () => {
      const sub = node([{ name: 'passwd', type: 'symlink', target: '/etc/passwd' }]);
      const root = node([fileEntry('a.txt'), { name: 'sub', type: 'dir', tree: sub.id, size: 0, files: 0 }]);
      const e = await attempt(
        root,
        [
          { kind: BlobKind.tree, bytes: sub.bytes },
          { kind: BlobKind.tree, bytes: root.bytes },
        ],
        'PATH_UNSAFE',
      );
      expect(e.data).toEqual({ path: 'sub/passwd', target: '/etc/passwd' });
    });

    it('duplicate or unsorted names are CORRUPT_OBJECT', async () => {
      const dup = node([fileEntry('a.txt'), fileEntry('a.txt')]);
      await attempt(dup, [{ kind: BlobKind.tree, bytes: dup.bytes }], 'CORRUPT_OBJECT');
      await ws!.close();
      ws = null;
      const unsorted = node([fileEntry('b.txt'), fileEntry('a.txt')]);
      await attempt(unsorted, [{ kind: BlobKind.tree, bytes: unsorted.bytes }], 'CORRUPT_OBJECT');
    });
  });

  describe('a target that already holds a symlink where the version has a directory', () => {
    async function setup() {
      const { ws, dir } = await open();
      const src = join(dir, 'src');
      writeTree(src, { 'sub/file': 'payload', 'top.txt': 'top' });
      await addVersion(ws, { source: src, name: 'ds' });
      const other = join(dir, 'other');
      mkdirSync(other);
      const target = join(dir, 'target');
      mkdirSync(target);
      return { ws, dir, other, target };
    }

    it.each([
      ['absolute', (other: string) => other],
      ['relative, climbing out', () => '../other'],
    ])(
      '%s link to another directory: PATH_UNSAFE, with or without --force; nothing written there',
      async (_kind, link) => {
        const { ws, other, target } = await setup();
        symlinkSync(link(other), join(target, 'sub'));
        for (const force of [false, true]) {
          await rejectsWith(checkoutVersion(ws, { ref: 'ds@v1', dir: target, force }), 'PATH_UNSAFE');
          expect(listAllPaths(other)).toEqual([]);
          expect(listAllPaths(target)).toEqual(['sub']);
          expect(lstatSync(join(target, 'sub')).isSymbolicLink()).toBe(true);
        }
      },
    );

    it('a link to a directory inside the target: LOCAL_CHANGES; --force replaces the link itself, never writing through it', async () => {
      const { ws, target } = await setup();
      mkdirSync(join(target, 'real'));
      symlinkSync('real', join(target, 'sub'));
      const e = await rejectsWith(checkoutVersion(ws, { ref: 'ds@v1', dir: target }), 'LOCAL_CHANGES');
      expect(e.data.conflicts).toEqual([
        { path: 'sub', reason: expect.stringMatching(/symlink.*in the way of a directory/) },
      ]);
      expect(lstatSync(join(target, 'sub')).isSymbolicLink()).toBe(true);
      await checkoutVersion(ws, { ref: 'ds@v1', dir: target, force: true });
      expect(listAllPaths(join(target, 'real'))).toEqual([]);
      expect(lstatSync(join(target, 'sub')).isDirectory()).toBe(true);
      expect(listAllPaths(target)).toEqual(['real', 'sub', 'sub/file', 'top.txt']);
    });
  });
});
