import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { canonicalJson } from '../core/canonical-json.js';
import { uuidv7 } from '../core/ids.js';
import { addVersion } from '../datasets/add.js';
import { checkoutVersion } from '../datasets/checkout.js';
import { listPacks, recordPacks } from '../meta/repos/chunks.js';
import { createDataset, insertVersion } from '../meta/repos/datasets.js';
import { acquireExclusive, acquireShared } from '../storage/locks/locks.js';
import { BlobKind, type BlobKindCode } from '../storage/pack/format.js';
import { PackWriter, type FinishedPack } from '../storage/pack/writer.js';
import { encodeTree } from '../storage/tree/node.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { runFsck } from './fsck.js';
import { runGc } from './gc.js';
import { sha256Hex as sha } from '../core/digest.js';
import { rejectsWith } from '../test-support/assert.js';

const KiB = 1024;

/** path → content hash (files) or "-> target" (symlinks), recursively. */
function contents(root: string, rel = '', out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(root, p));
    if (st.isSymbolicLink()) out[p] = `-> ${readlinkSync(join(root, p))}`;
    else if (st.isDirectory()) contents(root, p, out);
    else out[p] = sha(readFileSync(join(root, p)));
  }
  return out;
}

function packFiles(ws: Workspace): string[] {
  const dir = join(ws.cairnDir, 'objects', 'packs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((s) => readdirSync(join(dir, s)).map((n) => n.replace(/\.pack$/, '')))
    .sort();
}

async function writePack(ws: Workspace, blobs: Array<{ kind: BlobKindCode; bytes: Buffer }>): Promise<FinishedPack> {
  const w = await PackWriter.create(ws.packs);
  for (const b of blobs) w.append(b.kind, sha(b.bytes), b.bytes);
  return w.finish();
}

describe('maintenance: fsck and gc', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  /** Two datasets, three versions; returns what each version must check out as. */
  async function store() {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const src = join(dir, 'src');
    writeTree(src, { 'a.bin': prng(1, 400 * KiB), 'b/c.txt': 'c', 'b/d.bin': prng(2, 90 * KiB) });
    await addVersion(ws, { source: src, name: 'one' });
    const v1 = contents(src);
    writeFileSync(join(src, 'a.bin'), prng(3, 410 * KiB));
    rmSync(join(src, 'b/c.txt'));
    await addVersion(ws, { source: src, name: 'one' });
    const v2 = contents(src);
    const other = join(dir, 'other');
    writeTree(other, { 'x.txt': 'x', 'y.bin': prng(4, 20 * KiB) });
    await addVersion(ws, { source: other, name: 'two' });
    const expected: Record<string, Record<string, string>> = { 'one@v1': v1, 'one@v2': v2, 'two@v1': contents(other) };
    return { ws, dir, expected };
  }

  async function everyVersionChecksOut(w: Workspace, dir: string, expected: Record<string, Record<string, string>>) {
    for (const [ref, want] of Object.entries(expected)) {
      const out = join(dir, 'co', ref.replace('@', '-'));
      rmSync(out, { recursive: true, force: true });
      await checkoutVersion(w, { ref, dir: out, link: 'copy' });
      expect(contents(out), ref).toEqual(want);
    }
  }

  it('fsck on a healthy store: ok, every pack and blob checked, nothing orphaned', async () => {
    const { ws } = await store();
    const packs = await listPacks(ws.meta.db);
    const r = await runFsck(ws);
    expect(r).toMatchObject({
      ok: true,
      packsChecked: packs.length,
      missingPacks: [],
      corruptPacks: [],
      corruptBlobs: [],
      misplacedBlobs: [],
      brokenVersions: [],
      orphanPacks: [],
      tempFiles: 0,
    });
    expect(r.bytesChecked).toBe(packs.reduce((n, p) => n + Number(p.size), 0));
    expect(r.blobsChecked).toBe(packs.reduce((n, p) => n + Number(p.blob_count), 0));
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('action', '=', 'store.fsck')
      .execute();
    expect(ev).toEqual([{ action: 'store.fsck', outcome: 'ok' }]);
  });

  it('fsck names a missing pack and every version and file it breaks', async () => {
    const { ws } = await store();
    // The pack that holds two@v1's only new data (its add wrote exactly one pack).
    const v = await ws.meta.db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .select('digest')
      .where('name', '=', 'two')
      .executeTakeFirstOrThrow();
    const loc = await ws.meta.db
      .selectFrom('blobs')
      .select('pack_id')
      .where('id', '=', v.digest)
      .executeTakeFirstOrThrow();
    rmSync(ws.packs.packPath(loc.pack_id));
    const r = await runFsck(ws);
    expect(r.ok).toBe(false);
    expect(r.missingPacks).toEqual([loc.pack_id]);
    expect(r.brokenVersions).toEqual([{ ref: 'two@v1', files: [], unreadableTrees: [''] }]);
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome'])
      .where('action', '=', 'store.fsck')
      .execute();
    expect(ev).toEqual([{ action: 'store.fsck', outcome: 'failed' }]);
  });

  it('gc and fsck pass over a version with no tree here (metadata only); both stop on one whose trees are here but unreadable', async () => {
    // What `pull --metadata-only` (and a push to a team server) records: a row whose trees stay remote.
    const remoteOnly = (w: Workspace) =>
      w.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name: 'remote' } }, (commit) =>
        commit(async (tx) => {
          const now = new Date().toISOString();
          const id = uuidv7();
          await createDataset(tx, { id, name: 'remote', created_at: now, created_by: 'tester@example.com' });
          await insertVersion(tx, {
            id: uuidv7(),
            dataset_id: id,
            number: 1,
            digest: sha(Buffer.from('a tree that is only on the remote')),
            parent_id: null,
            message: '',
            author: 'tester@example.com',
            created_at: now,
            file_count: 0,
            total_bytes: 0,
            new_bytes: 0,
            stats: canonicalJson({}),
          });
        }),
      );
    const { ws: a, dir, expected } = await store();
    await remoteOnly(a);
    // fsck too: no bytes here is not damage (it said "damaged version remote@v1" before).
    expect(await runFsck(a)).toMatchObject({ ok: true, brokenVersions: [], remoteOnlyVersions: ['remote@v1'] });
    await runGc(a);
    await everyVersionChecksOut(a, dir, expected);
    await a.close();
    // Another store: two@v1's pack gone, so its root tree is indexed but unreadable, which is damage.
    const { ws: b } = await store();
    await remoteOnly(b);
    const v = await b.meta.db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .select('digest')
      .where('name', '=', 'two')
      .executeTakeFirstOrThrow();
    const loc = await b.meta.db
      .selectFrom('blobs')
      .select('pack_id')
      .where('id', '=', v.digest)
      .executeTakeFirstOrThrow();
    rmSync(b.packs.packPath(loc.pack_id));
    await rejectsWith(runGc(b), 'CORRUPT_OBJECT');
    const f = await runFsck(b);
    expect(f.ok).toBe(false);
    expect(f.brokenVersions.map((x) => x.ref)).toEqual(['two@v1']);
    expect(f.remoteOnlyVersions).toEqual(['remote@v1']);
  });

  it('gc --dry-run reports orphan packs, unused packs and temp files but deletes nothing', async () => {
    const { ws } = await store();
    const orphan = await writePack(ws, [{ kind: BlobKind.chunk, bytes: prng(50, 64 * KiB) }]);
    const unused = await writePack(ws, [{ kind: BlobKind.chunk, bytes: prng(51, 32 * KiB) }]);
    await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name: 'x' } }, (commit) =>
      commit((tx) => recordPacks(tx, [unused], new Date().toISOString())),
    );
    const temp = join(ws.packs.tmpDir, `${999999}-deadbeefdeadbeef.pack.tmp`);
    writeFileSync(temp, prng(52, 1000));
    const filesBefore = packFiles(ws);
    const metaBefore = await listPacks(ws.meta.db);
    const eventsBefore = await ws.audit.size();

    const r = await runGc(ws, { dryRun: true });
    expect(r).toEqual({
      dryRun: true,
      packsDeleted: 1,
      packsRepacked: 0,
      orphanPacksDeleted: 1,
      tempFilesDeleted: 1,
      blobsDropped: 0,
      bytesFreed: orphan.size + unused.size + 1000,
      bytesCopied: 0,
      cacheBytesFreed: 0,
      roots: 3,
    });
    expect(packFiles(ws)).toEqual(filesBefore);
    expect(await listPacks(ws.meta.db)).toEqual(metaBefore);
    expect(existsSync(temp)).toBe(true);
    expect(await ws.audit.size()).toBe(eventsBefore);
  });

  it('gc deletes orphan and unused packs and temp files, keeps every version intact', async () => {
    const { ws, dir, expected } = await store();
    const kept = packFiles(ws);
    const orphan = await writePack(ws, [{ kind: BlobKind.chunk, bytes: prng(60, 64 * KiB) }]);
    const unused = await writePack(ws, [{ kind: BlobKind.chunk, bytes: prng(61, 32 * KiB) }]);
    await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name: 'x' } }, (commit) =>
      commit((tx) => recordPacks(tx, [unused], new Date().toISOString())),
    );
    const temp = join(ws.packs.tmpDir, `${999999}-0123456789abcdef.pack.tmp`);
    writeFileSync(temp, 'partial');
    expect((await runFsck(ws)).orphanPacks).toEqual([orphan.id]);

    const r = await runGc(ws);
    expect(r).toMatchObject({
      dryRun: false,
      packsDeleted: 1,
      orphanPacksDeleted: 1,
      tempFilesDeleted: 1,
      packsRepacked: 0,
      roots: 3,
    });
    expect(packFiles(ws)).toEqual(kept);
    expect(existsSync(temp)).toBe(false);
    expect((await listPacks(ws.meta.db)).map((p) => p.id).sort()).toEqual(kept);
    const f = await runFsck(ws);
    expect(f).toMatchObject({ ok: true, orphanPacks: [], tempFiles: 0, brokenVersions: [] });
    await everyVersionChecksOut(ws, dir, expected);

    // A second gc finds nothing to do.
    expect(await runGc(ws)).toMatchObject({
      packsDeleted: 0,
      orphanPacksDeleted: 0,
      tempFilesDeleted: 0,
      packsRepacked: 0,
      blobsDropped: 0,
      bytesFreed: 0,
    });
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['outcome'])
      .where('action', '=', 'store.gc')
      .execute();
    expect(ev).toEqual([{ outcome: 'ok' }, { outcome: 'ok' }]);
  });

  it('gc repacks a mostly dead pack: its live blobs move, the version still checks out', async () => {
    const { ws, dir, expected } = await store();
    // A pack with a small live file and its tree, and a large blob nothing references.
    const live = Buffer.from('keep me\n');
    const tree = encodeTree({
      v: 1,
      entries: [{ name: 'keep.txt', type: 'file', size: live.length, mode: '644', digest: sha(live) }],
    });
    const dead = prng(70, 200 * KiB);
    const pack = await writePack(ws, [
      { kind: BlobKind.chunk, bytes: live },
      { kind: BlobKind.tree, bytes: tree.bytes },
      { kind: BlobKind.chunk, bytes: dead },
    ]);
    await ws.audit.audited(
      { action: 'dataset.version.create', target: { type: 'dataset', name: 'planted' } },
      (commit) =>
        commit(async (tx) => {
          const now = new Date().toISOString();
          await recordPacks(tx, [pack], now);
          const id = uuidv7();
          await createDataset(tx, { id, name: 'planted', created_at: now, created_by: 'tester@example.com' });
          await insertVersion(tx, {
            id: uuidv7(),
            dataset_id: id,
            number: 1,
            digest: tree.id,
            parent_id: null,
            message: '',
            author: 'tester@example.com',
            created_at: now,
            file_count: 1,
            total_bytes: live.length,
            new_bytes: 0,
            stats: canonicalJson({
              files: 1,
              bytes: live.length,
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
    const r = await runGc(ws);
    expect(r).toMatchObject({
      packsRepacked: 1,
      packsDeleted: 0,
      orphanPacksDeleted: 0,
      bytesCopied: live.length + tree.bytes.length,
      roots: 4,
    });
    expect(existsSync(ws.packs.packPath(pack.id))).toBe(false);
    expect(await ws.meta.db.selectFrom('blobs').select('id').where('id', '=', sha(dead)).execute()).toEqual([]);
    expect((await runFsck(ws)).ok).toBe(true);
    await everyVersionChecksOut(ws, dir, { ...expected, 'planted@v1': { 'keep.txt': sha(live) } });
  });

  /** Plants `planted@v1` (one small file) in pack A = [file, tree, 200 KiB nothing uses]. */
  async function plantMostlyDead(w: Workspace) {
    const live = Buffer.from('keep me\n');
    const tree = encodeTree({
      v: 1,
      entries: [{ name: 'keep.txt', type: 'file', size: live.length, mode: '644', digest: sha(live) }],
    });
    const a = await writePack(w, [
      { kind: BlobKind.chunk, bytes: live },
      { kind: BlobKind.tree, bytes: tree.bytes },
      { kind: BlobKind.chunk, bytes: prng(71, 200 * KiB) },
    ]);
    await w.audit.audited(
      { action: 'dataset.version.create', target: { type: 'dataset', name: 'planted' } },
      (commit) =>
        commit(async (tx) => {
          const now = new Date().toISOString();
          await recordPacks(tx, [a], now);
          const id = uuidv7();
          await createDataset(tx, { id, name: 'planted', created_at: now, created_by: 'tester@example.com' });
          await insertVersion(tx, {
            id: uuidv7(),
            dataset_id: id,
            number: 1,
            digest: tree.id,
            parent_id: null,
            message: '',
            author: 'tester@example.com',
            created_at: now,
            file_count: 1,
            total_bytes: live.length,
            new_bytes: 0,
            stats: canonicalJson({
              files: 1,
              bytes: live.length,
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
    // What repacking A yields: its live blobs, in order, in a pack of their own.
    const copy = [
      { kind: BlobKind.chunk, bytes: live },
      { kind: BlobKind.tree, bytes: tree.bytes },
    ];
    return { a, copy, want: { 'keep.txt': sha(live) } };
  }

  it('a repack that yields the id of a pack gc was about to delete keeps that pack and its index rows', async () => {
    const { ws, dir, expected } = await store();
    const { a, copy, want } = await plantMostlyDead(ws);
    // B holds the same two blobs (a concurrent writer's duplicate): the index points at A, so
    // B has no live row and is planned for deletion, yet the repack of A produces B again.
    const b = await writePack(ws, copy);
    await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name: 'x' } }, (commit) =>
      commit((tx) => recordPacks(tx, [b], new Date().toISOString())),
    );
    const r = await runGc(ws);
    expect(r).toMatchObject({ packsRepacked: 1, packsDeleted: 1 });
    expect(existsSync(ws.packs.packPath(a.id))).toBe(false);
    expect(existsSync(ws.packs.packPath(b.id))).toBe(true);
    const rows = await ws.meta.db
      .selectFrom('blobs')
      .select('pack_id')
      .where(
        'id',
        'in',
        copy.map((c) => sha(c.bytes)),
      )
      .execute();
    expect(rows.map((x) => x.pack_id)).toEqual([b.id, b.id]);
    expect(await runFsck(ws)).toMatchObject({ ok: true, brokenVersions: [], orphanPacks: [] });
    await everyVersionChecksOut(ws, dir, { ...expected, 'planted@v1': want });
  });

  it('a repack that yields the id of an orphan pack file does not delete the new pack', async () => {
    const { ws, dir, expected } = await store();
    const { copy, want } = await plantMostlyDead(ws);
    // A crashed earlier gc left exactly the pack this repack writes, unrecorded.
    const orphan = await writePack(ws, copy);
    const r = await runGc(ws);
    expect(r).toMatchObject({ packsRepacked: 1, orphanPacksDeleted: 1 });
    expect(existsSync(ws.packs.packPath(orphan.id))).toBe(true);
    expect(await runFsck(ws)).toMatchObject({ ok: true, brokenVersions: [], orphanPacks: [] });
    await everyVersionChecksOut(ws, dir, { ...expected, 'planted@v1': want });
  });

  it('gc refuses with LOCKED while an add holds the shared lock; an add waits out gc', async () => {
    const { ws, dir, expected } = await store();
    const orphan = await writePack(ws, [{ kind: BlobKind.chunk, bytes: prng(80, 10 * KiB) }]);
    const shared = acquireShared(ws.locksDir, 'data add');
    let e;
    try {
      e = await rejectsWith(runGc(ws), 'LOCKED');
      await rejectsWith(runGc(ws, { dryRun: true }), 'LOCKED');
    } finally {
      shared.release();
    }
    expect(e.data).toMatchObject({ pid: process.pid, command: 'data add' });
    expect(e.exitCode).toBe(1);
    expect(existsSync(ws.packs.packPath(orphan.id))).toBe(true);

    const exclusive = acquireExclusive(ws.locksDir, 'gc');
    try {
      const w = await rejectsWith(
        Promise.resolve().then(() => acquireShared(ws.locksDir, 'data add', 300)),
        'LOCKED',
      );
      expect(w.data).toMatchObject({ command: 'gc' });
    } finally {
      exclusive.release();
    }
    expect(await runGc(ws)).toMatchObject({ orphanPacksDeleted: 1 });
    expect(existsSync(ws.packs.packPath(orphan.id))).toBe(false);
    await everyVersionChecksOut(ws, dir, expected);
  });
});

describe('maintenance: gc and caches', () => {
  const tmp = useTempDirs();

  it('gc clears re-creatable caches and work folders, and a later read rebuilds them', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    try {
      writeTree(join(dir, 'src'), { 'a.csv': 'x,y\n1,2\n' });
      await addVersion(ws, { source: join(dir, 'src'), name: 't' });
      const cached = join(ws.cacheDir, 'versions', 'leftover', 'a.csv');
      mkdirSync(dirname(cached), { recursive: true });
      writeFileSync(cached, '0123456789');
      const work = join(ws.cairnDir, 'tmp', 'split-1-dead', 'x.parquet');
      mkdirSync(dirname(work), { recursive: true });
      writeFileSync(work, '01234');
      const dry = await runGc(ws, { dryRun: true });
      expect(dry.cacheBytesFreed).toBe(15);
      expect(existsSync(cached)).toBe(true);
      const r = await runGc(ws);
      expect(r.cacheBytesFreed).toBe(15);
      expect(existsSync(join(ws.cacheDir, 'versions'))).toBe(false);
      expect(existsSync(join(ws.cairnDir, 'tmp'))).toBe(false);
    } finally {
      await ws.close();
    }
  });
});
