import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { parseDigest } from '../core/digest.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import { walkTree } from '../storage/tree/walk.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { treeLoader } from './trees.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Files cut to half their length while `add` runs, by another process: a file the walk saw at
 * its full length may be read after the cut. Whatever was read, the version's entry must
 * describe it — its size the length of the bytes its digest names — or checkout and verify
 * disagree with the version. (Before: the entry kept the walk's size beside the shorter bytes.)
 */
describe('add: a file that shrinks between the walk and the read', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('is recorded with the size of the bytes it read, small or large', { timeout: 300_000 }, async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const mismatched: string[] = [];
    let cutAfterWalk = 0;
    for (let round = 0; round < 4 && mismatched.length === 0; round++) {
      const src = join(dir, `src${round}`);
      const want = new Map<string, { full: Buffer; half: Buffer }>();
      for (let d = 0; d < 4; d++) {
        fs.mkdirSync(join(src, `d${d}`), { recursive: true });
        for (let i = 0; i < 700; i++) {
          const full = prng(round * 100_000 + d * 1000 + i, 2048 + (i % 7) * 100);
          const rel = `d${d}/f${i}.bin`;
          fs.writeFileSync(join(src, rel), full);
          want.set(rel, { full, half: full.subarray(0, full.length >> 1) });
        }
      }
      for (let i = 0; i < 3; i++) {
        const full = prng(round * 100_000 + 90_000 + i, 3 * 1024 * 1024 + i);
        fs.writeFileSync(join(src, `big${i}.bin`), full);
        want.set(`big${i}.bin`, { full, half: full.subarray(0, full.length >> 1) });
      }
      // The cutter starts with the add and cuts every file once, in its own order.
      const names = [...want.keys()].reverse();
      const cutter = spawn(
        process.execPath,
        [
          '-e',
          `const fs=require('fs');const names=JSON.parse(process.argv[1]);for(const n of names){const p=${JSON.stringify(src)}+'/'+n;fs.truncateSync(p,fs.statSync(p).size>>1)}`,
          JSON.stringify(names),
        ],
        { stdio: 'ignore' },
      );
      const cut = new Promise((r) => cutter.on('exit', r));
      try {
        await addVersion(ws, { source: src, name: `r${round}` });
      } catch {
        // A file that changed while being read may refuse the add (IO_ERROR): nothing recorded.
        await cut;
        continue;
      }
      await cut;
      const ds = (await findDataset(ws.meta.db, `r${round}`))!;
      const v = (await latestVersion(ws.meta.db, ds.id))!;
      for await (const e of walkTree(parseDigest(v.digest), treeLoader({ index: ws.index, reader: ws.reader }))) {
        if (e.type !== 'file') continue;
        const w = want.get(e.path)!;
        const got = e.digest === sha(w.half) ? w.half : e.digest === sha(w.full) ? w.full : null;
        expect(got, `${e.path}: a digest of neither content`).not.toBeNull();
        if (got === w.half) cutAfterWalk++;
        if (e.size !== got!.length) mismatched.push(`${e.path}: size ${e.size}, content ${got!.length}`);
      }
    }
    expect(mismatched.slice(0, 5)).toEqual([]);
    // The cut raced the add at all (the half contents were read), else the test proved nothing.
    expect(cutAfterWalk).toBeGreaterThan(0);
  });
});
