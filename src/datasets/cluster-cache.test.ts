import {
  appendFileSync,
  chmodSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { addVersion } from './add.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import { materializeShared } from './cluster-cache.js';

/**
 * The cluster cache serves a version's files to jobs; a job that writes to them (by accident,
 * or as root, whom the read-only modes do not stop) must never change what the next job reads.
 */
describe('cluster cache: read-only, and never served once changed', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const setup = async () => {
    const root = tmp();
    const ws = await newWorkspace(root);
    open.push(ws);
    const src = join(root, 'src');
    writeTree(src, { 'train.csv': 'x,y\n1,2\n', 'sub/test.csv': 'x,y\n3,4\n', 'bin/prep.sh': 'echo prep\n' });
    chmodSync(join(src, 'bin/prep.sh'), 0o755);
    symlinkSync('sub/test.csv', join(src, 'latest.csv'));
    await addVersion(ws, { source: src, name: 'mail' });
    const v = await ws.meta.db.selectFrom('dataset_versions').select('digest').executeTakeFirstOrThrow();
    const cache = join(root, 'cache');
    return { ws, digest: v.digest, cache, use: () => materializeShared(ws, v.digest, cache, { pollMs: 5 }) };
  };
  const ino = (p: string) => statSync(p).ino;

  it('a complete copy is read-only: files 0444 (0555 when executable), folders 0555', async () => {
    const { use } = await setup();
    const dir = await use();
    expect(statSync(join(dir, 'train.csv')).mode & 0o777).toBe(0o444);
    expect(statSync(join(dir, 'sub/test.csv')).mode & 0o777).toBe(0o444);
    expect(statSync(join(dir, 'bin/prep.sh')).mode & 0o777).toBe(0o555);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o555);
    expect(statSync(dir).mode & 0o777).toBe(0o555);
    // unchanged: the same copy is served again, nothing rebuilt
    const before = ino(join(dir, 'train.csv'));
    expect(await use()).toBe(dir);
    expect(ino(join(dir, 'train.csv'))).toBe(before);
  });

  it('an input a job appended to, a file it added, removed or re-pointed: detected, rebuilt, never served', async () => {
    const { use } = await setup();
    const tamper: Array<(dir: string) => void> = [
      (dir) => {
        chmodSync(join(dir, 'train.csv'), 0o644);
        appendFileSync(join(dir, 'train.csv'), '666,666\n');
      },
      (dir) => {
        chmodSync(join(dir, 'sub'), 0o755);
        writeFileSync(join(dir, 'sub/extra.csv'), 'x\n');
      },
      (dir) => {
        chmodSync(join(dir, 'sub'), 0o755);
        unlinkSync(join(dir, 'sub/test.csv'));
      },
      (dir) => {
        chmodSync(dir, 0o755);
        unlinkSync(join(dir, 'latest.csv'));
        symlinkSync('train.csv', join(dir, 'latest.csv'));
      },
      (dir) => {
        // same size, mtime put back: the ctime still moves
        const st = statSync(join(dir, 'train.csv'));
        chmodSync(join(dir, 'train.csv'), 0o644);
        writeFileSync(join(dir, 'train.csv'), 'x,y\n9,9\n');
        utimesSync(join(dir, 'train.csv'), st.atime, st.mtime);
      },
    ];
    for (const [i, change] of tamper.entries()) {
      const dir = await use();
      change(dir);
      const again = await use();
      expect({ i, files: readdirSync(again).sort() }).toEqual({
        i,
        files: ['.complete', 'bin', 'latest.csv', 'sub', 'train.csv'],
      });
      expect({
        i,
        train: readFileSync(join(again, 'train.csv'), 'utf8'),
        test: readFileSync(join(again, 'sub/test.csv'), 'utf8'),
        link: readFileSync(join(again, 'latest.csv'), 'utf8'),
      }).toEqual({ i, train: 'x,y\n1,2\n', test: 'x,y\n3,4\n', link: 'x,y\n3,4\n' });
      expect(readdirSync(join(again, 'sub'))).toEqual(['test.csv']);
      expect(statSync(join(again, 'train.csv')).mode & 0o777).toBe(0o444);
    }
  });

  it('a copy only touched (same bytes) is re-hashed and served as it is, not rebuilt', async () => {
    const { use } = await setup();
    const dir = await use();
    const before = ino(join(dir, 'train.csv'));
    utimesSync(join(dir, 'train.csv'), new Date(0), new Date(0));
    chmodSync(join(dir, 'train.csv'), 0o644);
    expect(await use()).toBe(dir);
    expect(ino(join(dir, 'train.csv'))).toBe(before);
    expect(statSync(join(dir, 'train.csv')).mode & 0o777).toBe(0o444);
  });

  it('a copy from before seals (or whose seal is lost) is checked, not trusted', async () => {
    const { use, cache, digest } = await setup();
    const dir = await use();
    renameSync(join(cache, 'seals', `${digest}.json`), join(cache, 'seal.bak'));
    chmodSync(join(dir, 'train.csv'), 0o644);
    appendFileSync(join(dir, 'train.csv'), 'poison\n');
    expect(readFileSync(join(await use(), 'train.csv'), 'utf8')).toBe('x,y\n1,2\n');
  });
});
