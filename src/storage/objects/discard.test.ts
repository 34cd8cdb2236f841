import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { sha256Hex as sha } from '../../core/digest.js';
import { addVersion } from '../../datasets/add.js';
import { allBlobs, listPacks } from '../../meta/repos/chunks.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../../test-support/workspace.js';
import { BlobKind } from '../pack/format.js';
import { PackWriter } from '../pack/writer.js';
import { discardSealed } from './discard.js';

describe('discardSealed: a failing writer removes its packs only when certainly safe', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  async function sealed(w: Workspace, blobs: Array<{ kind: number; bytes: Buffer }>) {
    const pw = await PackWriter.create(w.packs);
    for (const b of blobs) pw.append(b.kind === BlobKind.tree ? BlobKind.tree : BlobKind.chunk, sha(b.bytes), b.bytes);
    return pw.finish();
  }

  it('keeps a pack of the same name another writer committed; removes its own unrecorded one', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'src'), { 'a.bin': prng(1, 5000) });
    await addVersion(ws, { source: join(dir, 'src'), name: 'ds' });
    const [committed] = await listPacks(ws.meta.db);
    const rows = (await allBlobs(ws.meta.db)).sort((a, b) => Number(a.offset) - Number(b.offset));
    // This writer sealed exactly the committed pack's blobs, in order: the same pack, by name.
    const same = await sealed(
      ws,
      await Promise.all(
        rows.map(async (r) => ({
          kind: r.kind,
          bytes: await ws!.reader.read({
            id: r.id,
            packId: r.pack_id,
            offset: Number(r.offset),
            length: Number(r.length),
          }),
        })),
      ),
    );
    expect(same.id).toBe(committed!.id);
    const own = await sealed(ws, [{ kind: BlobKind.chunk, bytes: prng(2, 3000) }]);
    await discardSealed([same, own], ws);
    expect(existsSync(ws.packs.packPath(committed!.id))).toBe(true);
    expect(existsSync(own.path)).toBe(false);
  });

  it('removes nothing while another process holds the shared lock (it may be adopting the pack)', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const own = await sealed(ws, [{ kind: BlobKind.chunk, bytes: prng(3, 3000) }]);
    const other = join(ws.locksDir, `shared-${process.ppid}-0000.lock`);
    writeFileSync(
      other,
      JSON.stringify({ pid: process.ppid, host: hostname(), started: new Date().toISOString(), command: 'data add' }),
    );
    await discardSealed([own], ws);
    expect(existsSync(own.path)).toBe(true);
    expect(existsSync(join(ws.locksDir, 'exclusive.lock'))).toBe(false);
  });
});
