import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { sha256Hex as sha } from '../../src/core/digest.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string): Promise<Done> {
  const child = cliSpawn(args, { cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A tree of its own per writer (some bytes shared between all, so dedup races too). */
function tree(root: string, seed: number): Record<string, string> {
  const files: Record<string, Buffer> = {
    'shared/common.bin': prng(1, 2 * MiB),
    [`own/big-${seed}.bin`]: prng(100 + seed, 12 * MiB),
    'own/small.txt': Buffer.from(`writer ${seed}\n`),
  };
  for (let i = 0; i < 20; i++) files[`own/many/${i}.bin`] = prng(1000 * seed + i, 32 * KiB);
  writeTree(root, files);
  return Object.fromEntries(Object.entries(files).map(([p, b]) => [p, sha(b)]));
}

function listing(cwd: string, ref: string): Record<string, string> {
  const r = cli(['data', 'show', ref, '--all', '--json'], { cwd });
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    (r.json as { listing: Array<{ path: string; digest: string }> }).listing.map((f) => [f.path, f.digest.slice(7)]),
  );
}

function storeIsWhole(cwd: string): void {
  const f = cli(['fsck', '--json'], { cwd });
  expect(f.code, f.stdout).toBe(0);
  expect(f.json).toMatchObject({
    ok: true,
    missingPacks: [],
    corruptBlobs: [],
    misplacedBlobs: [],
    brokenVersions: [],
  });
  const v = cli(['audit', 'verify', '--json'], { cwd });
  expect(v.code, v.stdout).toBe(0);
  expect(v.json).toMatchObject({ ok: true });
}

describe('fault: concurrent data add on one workspace', () => {
  const tmp = useTempDirs();

  it('two adds of different datasets at once: both succeed, each is v1, the store is whole', async () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    const a = tree(join(cwd, 'a'), 1);
    const b = tree(join(cwd, 'b'), 2);
    const [ra, rb] = await Promise.all([
      run(['data', 'add', 'a', '--name', 'alpha', '--json'], cwd),
      run(['data', 'add', 'b', '--name', 'beta', '--json'], cwd),
    ]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(ra.stdout)).toMatchObject({ ref: 'alpha@v1', files: 23 });
    expect(JSON.parse(rb.stdout)).toMatchObject({ ref: 'beta@v1', files: 23 });
    expect(listing(cwd, 'alpha@v1')).toEqual(a);
    expect(listing(cwd, 'beta@v1')).toEqual(b);
    storeIsWhole(cwd);
  });

  it('four adds of one dataset at once: versions 1..4, each a whole tree, parents chained', async () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    const trees = [1, 2, 3, 4].map((i) => tree(join(cwd, `t${i}`), i));
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => run(['data', 'add', `t${i}`, '--name', 'same', '-m', `writer ${i}`, '--json'], cwd)),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const refs = results.map((r) => (JSON.parse(r.stdout) as { ref: string }).ref).sort();
    expect(refs).toEqual(['same@v1', 'same@v2', 'same@v3', 'same@v4']);
    // Each version holds exactly the tree of the writer that reported it.
    for (const [i, r] of results.entries())
      expect(listing(cwd, (JSON.parse(r.stdout) as { ref: string }).ref)).toEqual(trees[i]);
    const log = cli(['data', 'log', 'same', '--json'], { cwd }).json as Array<{ ref: string; parent: string | null }>;
    expect(log.map((v) => [v.ref, v.parent])).toEqual([
      ['same@v4', 'same@v3'],
      ['same@v3', 'same@v2'],
      ['same@v2', 'same@v1'],
      ['same@v1', null],
    ]);
    const events = cli(['audit', 'log', '--action', 'dataset.version.create', '--json'], { cwd });
    expect(events.code).toBe(0);
    expect(
      (events.json as Array<{ outcome: string; target: { version: number } }>)
        .map((e) => [e.outcome, e.target.version])
        .sort(),
    ).toEqual([
      ['ok', 1],
      ['ok', 2],
      ['ok', 3],
      ['ok', 4],
    ]);
    storeIsWhole(cwd);
  });

  it('gc started during an add either waits its turn or refuses with LOCKED; the add succeeds', async () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    const t = tree(join(cwd, 't'), 7);
    const add = run(['data', 'add', 't', '--name', 'busy'], cwd);
    await new Promise((r) => setTimeout(r, 150));
    const gc = await run(['gc', '--json'], cwd);
    const added = await add;
    expect(added.code, added.stderr).toBe(0);
    if (gc.code !== 0) {
      expect(gc.code).toBe(1);
      expect(JSON.parse(gc.stdout)).toMatchObject({ error: { code: 'LOCKED' } });
    }
    expect(listing(cwd, 'busy@v1')).toEqual(t);
    storeIsWhole(cwd);
  });
});
