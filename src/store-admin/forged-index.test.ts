// The `blobs` index is derivable from the packs (each carries its own index, named by its
// digest), and `audit verify` does not cover it. So a row deleted or edited by SQL, a crash or
// corruption must never make gc delete a live version's bytes: gc stops (INDEX_DAMAGED) and
// deletes nothing, fsck names the damage, and `fsck --repair` restores the rows from the packs.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { sha256Hex as sha } from '../core/digest.js';
import { addVersion } from '../datasets/add.js';
import { checkoutVersion } from '../datasets/checkout.js';
import { rejectsWith } from '../test-support/assert.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { runFsck } from './fsck.js';
import { runGc } from './gc.js';

const KiB = 1024;

function contents(root: string, rel = '', out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    if (statSync(join(root, p)).isDirectory()) contents(root, p, out);
    else out[p] = sha(readFileSync(join(root, p)));
  }
  return out;
}

function packFiles(ws: Workspace): string[] {
  const dir = join(ws.cairnDir, 'objects', 'packs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((s) => readdirSync(join(dir, s)))
    .sort();
}

describe('gc and fsck over a forged blobs index', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  /** Two datasets added apart (so each has packs of its own). */
  async function store() {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const one = join(dir, 'one');
    writeTree(one, { 'a.bin': prng(1, 300 * KiB), 'b/c.txt': 'c', 'b/d.bin': prng(2, 90 * KiB) });
    await addVersion(ws, { source: one, name: 'one' });
    const two = join(dir, 'two');
    writeTree(two, { 'x.txt': 'x', 'y.bin': prng(4, 20 * KiB) });
    await addVersion(ws, { source: two, name: 'two' });
    const root = await ws.meta.db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .select('digest')
      .where('name', '=', 'one')
      .executeTakeFirstOrThrow();
    const row = await ws.meta.db
      .selectFrom('blobs')
      .selectAll()
      .where('id', '=', root.digest)
      .executeTakeFirstOrThrow();
    return { ws, dir, root: root.digest, rootPack: row.pack_id, want: { one: contents(one), two: contents(two) } };
  }

  async function checksOut(w: Workspace, dir: string, ref: string, want: Record<string, string>) {
    const out = join(dir, 'co', ref.replace('@', '-'));
    rmSync(out, { recursive: true, force: true });
    await checkoutVersion(w, { ref, dir: out, link: 'copy' });
    expect(contents(out), ref).toEqual(want);
  }

  it("deleting the root tree's blobs row: gc refuses and deletes nothing, fsck names it, --repair restores it", async () => {
    const s = await store();
    await s.ws.meta.db.deleteFrom('blobs').where('id', '=', s.root).execute();
    const before = packFiles(s.ws);
    const events = await s.ws.audit.size();
    // Before: one@v1 looked metadata-only, so its packs looked like garbage and went.
    await rejectsWith(runGc(s.ws), 'INDEX_DAMAGED');
    await expect(runGc(s.ws)).rejects.toThrow(
      `index row missing for the root of one@v1 (tree ${s.root}), found in pack ${s.rootPack}`,
    );
    expect(packFiles(s.ws)).toEqual(before);
    const f = await runFsck(s.ws);
    expect(f.ok).toBe(false);
    expect(f.remoteOnlyVersions).toEqual([]);
    expect(f.indexDamage).toEqual([{ blob: s.root, problem: 'unindexed', pack: s.rootPack, rootOf: 'one@v1' }]);
    expect(await s.ws.audit.size()).toBeGreaterThan(events);

    const r = await runFsck(s.ws, { repair: true });
    expect(r.repaired).toEqual({ rowsRestored: 1, rowsMoved: 0, packsRecorded: 0 });
    expect((await runFsck(s.ws)).ok).toBe(true);
    await runGc(s.ws);
    await checksOut(s.ws, s.dir, 'one@v1', s.want.one);
    await checksOut(s.ws, s.dir, 'two@v1', s.want.two);
  });

  it("a root's row pointed at another pack: gc refuses (the real home looks dead otherwise); --repair moves it back", async () => {
    const s = await store();
    const other = await s.ws.meta.db
      .selectFrom('packs')
      .select('id')
      .where('id', '!=', s.rootPack)
      .executeTakeFirstOrThrow();
    await s.ws.meta.db.updateTable('blobs').set({ pack_id: other.id }).where('id', '=', s.root).execute();
    const before = packFiles(s.ws);
    await expect(runGc(s.ws)).rejects.toThrow(
      `index row for the root of one@v1 (tree ${s.root}) points at pack ${other.id}, but it is in pack ${s.rootPack}`,
    );
    expect(packFiles(s.ws)).toEqual(before);
    expect((await runFsck(s.ws)).indexDamage).toMatchObject([{ blob: s.root, problem: 'misplaced', pack: s.rootPack }]);
    expect((await runFsck(s.ws, { repair: true })).repaired).toEqual({
      rowsRestored: 0,
      rowsMoved: 1,
      packsRecorded: 0,
    });
    await runGc(s.ws);
    await checksOut(s.ws, s.dir, 'one@v1', s.want.one);
  });

  it('a pack whose packs row and every blobs row were deleted holds a live tree: not an orphan to delete', async () => {
    const s = await store();
    await s.ws.meta.db.deleteFrom('blobs').where('pack_id', '=', s.rootPack).execute();
    await s.ws.meta.db.deleteFrom('packs').where('id', '=', s.rootPack).execute();
    const before = packFiles(s.ws);
    await rejectsWith(runGc(s.ws), 'INDEX_DAMAGED');
    expect(packFiles(s.ws)).toEqual(before);
    const f = await runFsck(s.ws);
    expect(f.ok).toBe(false);
    expect(f.indexDamage.length).toBeGreaterThan(1);
    expect(f.indexDamage[0]).toMatchObject({ blob: s.root, rootOf: 'one@v1', pack: s.rootPack });
    const r = await runFsck(s.ws, { repair: true });
    expect(r.repaired?.packsRecorded).toBe(1);
    await runGc(s.ws);
    await checksOut(s.ws, s.dir, 'one@v1', s.want.one);
  });

  it('chunk rows deleted (the trees intact): gc refuses rather than delete the packs that hold them', async () => {
    const s = await store();
    await s.ws.meta.db.deleteFrom('blobs').where('kind', '=', 1).execute();
    const before = packFiles(s.ws);
    await rejectsWith(runGc(s.ws), 'INDEX_DAMAGED');
    expect(packFiles(s.ws)).toEqual(before);
    await runFsck(s.ws, { repair: true });
    await runGc(s.ws);
    await checksOut(s.ws, s.dir, 'one@v1', s.want.one);
    await checksOut(s.ws, s.dir, 'two@v1', s.want.two);
  });

  it('a pack file whose own index does not read is never deleted (nobody can tell what it holds); fsck names it', async () => {
    const s = await store();
    // A crash or a bad disk: bytes under a sealed pack's name that are not a pack.
    const id = sha(Buffer.from('not a pack'));
    mkdirSync(dirname(s.ws.packs.packPath(id)), { recursive: true });
    writeFileSync(s.ws.packs.packPath(id), prng(9, 4000));
    const r = await runGc(s.ws);
    expect(r.orphanPacksDeleted).toBe(0);
    expect(existsSync(s.ws.packs.packPath(id))).toBe(true);
    const f = await runFsck(s.ws);
    expect(f.ok).toBe(false);
    expect(f.unreadablePacks.map((p) => p.pack)).toEqual([id]);
    await checksOut(s.ws, s.dir, 'one@v1', s.want.one);
  });
});
