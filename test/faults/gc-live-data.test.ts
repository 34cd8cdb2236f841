// Issue 10, item 1: `gc` deleted live data. A one-file version's pack is mostly header and
// index; gc judged it "mostly garbage", repacked it into a byte-identical pack with the same
// id and then deleted that file. Run through the real CLI, as the report did.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

function ok<T = unknown>(cwd: string, args: string[]): T {
  const r = cli([...args, '--json'], { cwd });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

describe('fault: gc never deletes live data', () => {
  const tmp = useTempDirs();

  it('init; add one small file; gc; fsck is clean and the version checks out', () => {
    const cwd = tmp();
    ok(cwd, ['init']);
    writeFileSync(join(cwd, 'one-small-file.txt'), 'hello\n');
    ok(cwd, ['data', 'add', 'one-small-file.txt', '--name', 'base']);
    const gc = ok<{ packsRepacked: number; packsDeleted: number }>(cwd, ['gc']);
    expect(gc).toMatchObject({ packsRepacked: 0, packsDeleted: 0 });
    expect(ok<{ ok: boolean }>(cwd, ['fsck'])).toMatchObject({ ok: true, brokenVersions: [] });
    ok(cwd, ['data', 'checkout', 'base@v1', 'out']);
    expect(readFileSync(join(cwd, 'out', 'one-small-file.txt'), 'utf8')).toBe('hello\n');
  });

  it('clone, pull, gc: the pulled versions stay whole', { timeout: 120_000 }, () => {
    const a = tmp();
    ok(a, ['init']);
    const src = join(a, 'src');
    // v1's pack is one tiny file and its tree: mostly header and index, as in the report.
    writeTree(src, { 'a.txt': 'a\n' });
    ok(a, ['data', 'add', 'src', '--name', 'ds']);
    writeTree(src, { 'a.txt': 'changed\n', 'b/c.bin': prng(3, 70_000) });
    ok(a, ['data', 'add', 'src', '--name', 'ds']);
    const remote = `file://${join(tmp(), 'remote')}`;
    ok(a, ['remote', 'add', 'origin', remote]);
    ok(a, ['push']);
    const b = join(tmp(), 'clone');
    ok(tmp(), ['clone', remote, b]);
    ok(b, ['pull']);
    ok(b, ['gc']);
    expect(ok<{ ok: boolean }>(b, ['fsck'])).toMatchObject({ ok: true, brokenVersions: [] });
    ok(b, ['data', 'checkout', 'ds@v1', join(b, 'v1')]);
    expect(readFileSync(join(b, 'v1', 'a.txt'), 'utf8')).toBe('a\n');
    ok(b, ['data', 'checkout', 'ds@v2', join(b, 'v2')]);
    expect(readFileSync(join(b, 'v2', 'a.txt'), 'utf8')).toBe('changed\n');
    expect(readFileSync(join(b, 'v2', 'b/c.bin')).equals(prng(3, 70_000))).toBe(true);
  });
});
