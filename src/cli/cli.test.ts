import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../app/version.js';
import { cli, type CliResult } from '../test-support/cli.js';
import { useTempDirs } from '../test-support/temp.js';
import { prng, writeTree } from '../test-support/workspace.js';
import { sha256Hex as sha } from '../core/digest.js';

interface ErrorDoc {
  error: { code: string; message: string; hint?: string; data: Record<string, unknown> };
}

/** A user error: the right code and exit status, a message and hint, no stack trace. */
function expectUserError(r: CliResult, code: string, exit: 1 | 2): void {
  expect(r.code, `${code}: ${r.stderr}${r.stdout}`).toBe(exit);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^cairn: error\\[${code}\\]: \\S`));
  expect(r.stderr).toMatch(/\nhint: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/\.(js|ts):\d+/);
}

/** The same with --json: one JSON document on stdout carrying the error, nothing on stderr. */
function expectJsonError(r: CliResult, code: string, exit: 1 | 2): ErrorDoc['error'] {
  expect(r.code, `${code}: ${r.stderr}${r.stdout}`).toBe(exit);
  expect(r.json, `stdout must be one JSON document: ${r.stdout}`).toBeDefined();
  const doc = r.json as ErrorDoc;
  expect(Object.keys(doc)).toEqual(['error']);
  expect(doc.error.code).toBe(code);
  expect(typeof doc.error.message).toBe('string');
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return doc.error;
}

describe('CLI conventions', () => {
  const tmp = useTempDirs();

  it('--version and --help exit 0', () => {
    const v = cli(['--version'], { cwd: tmp() });
    expect(v).toMatchObject({ code: 0, stdout: `${CLIENT_VERSION}\n` });
    const h = cli(['--help'], { cwd: tmp() });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: cairn /);
    for (const cmd of ['init', 'data', 'fsck', 'gc', 'audit', 'demo']) expect(h.stdout).toContain(cmd);
    const dh = cli(['data', 'add', '--help'], { cwd: tmp() });
    expect(dh.code).toBe(0);
    expect(dh.stdout).toContain('--name <dataset>');
    expect(cli(['help', 'data'], { cwd: tmp() })).toMatchObject({ code: 0, stderr: '' });
  });

  it('no command at all is a usage error (help on stderr, exit 2)', () => {
    for (const args of [[], ['data'], ['audit']]) {
      const r = cli(args, { cwd: tmp() });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^Usage: cairn /);
      expect(r.stderr).toMatch(/\ncairn: error\[USAGE\]: no command given\nhint: \S/);
      expectJsonError(cli([...args, '--json'], { cwd: tmp() }), 'USAGE', 2);
    }
  });

  it('every command outside a workspace: WORKSPACE_NOT_FOUND, exit 1, with and without --json', () => {
    const cwd = tmp();
    writeTree(cwd, { 'src/a.txt': 'a' });
    const commands = [
      ['data', 'ls'],
      ['data', 'log', 'ds'],
      ['data', 'show', 'ds'],
      ['data', 'add', 'src', '--name', 'ds'],
      ['data', 'diff', 'ds@v1', 'ds@v2'],
      ['data', 'checkout', 'ds', 'out'],
      ['data', 'tag', 'ds', 't'],
      ['data', 'status', 'src', '--name', 'ds'],
      ['fsck'],
      ['gc'],
      ['gc', '--dry-run'],
    ];
    for (const args of commands) {
      expectUserError(cli(args, { cwd }), 'WORKSPACE_NOT_FOUND', 1);
      expect(expectJsonError(cli([...args, '--json'], { cwd }), 'WORKSPACE_NOT_FOUND', 1).hint).toContain('cairn init');
    }
    expect(existsSync(join(cwd, '.cairn'))).toBe(false);
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });

  describe('in a workspace', () => {
    let cwd = '';
    const files = { 'train/a.csv': 'x,y\n1,2\n', 'train/b.bin': prng(5, 150 * 1024), 'test/c.csv': 'x,y\n3,4\n' };
    // One workspace for this group (useTempDirs cleans up after every test, so not from there).
    afterAll(() => {
      if (!process.env.CAIRN_KEEP_TEST_DIRS) rmSync(cwd, { recursive: true, force: true });
    });
    beforeAll(() => {
      cwd = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
      const init = cli(['init', '--json'], { cwd });
      expect(init.code, init.stderr).toBe(0);
      expect(init.json).toMatchObject({ workspace: cwd, metadata: 'sqlite', actor: 'tester@example.com' });
      writeTree(join(cwd, 'data'), files);
      expect(cli(['data', 'add', 'data', '--name', 'ds', '-m', 'first'], { cwd }).code).toBe(0);
      writeFileSync(join(cwd, 'data/test/c.csv'), 'x,y\n3,5\n');
      writeFileSync(join(cwd, 'data/new.txt'), 'new');
    });

    it('every command prints one parseable JSON document with --json', () => {
      const add = cli(['data', 'add', 'data', '--name', 'ds', '-m', 'second', '--json'], { cwd });
      expect(add.code, add.stderr).toBe(0);
      expect(add.json).toMatchObject({ ref: 'ds@v2', dataset: 'ds', version: 2, files: 4, unchanged: false });
      const again = cli(['data', 'add', 'data', '--name', 'ds', '--json'], { cwd });
      expect(again.json).toMatchObject({ ref: 'ds@v2', unchanged: true, newBytes: 0 });
      const derived = cli(['data', 'add', 'data/train', '--name', 'ds/train', '--from', 'ds@v2', '--json'], { cwd });
      expect(derived.json).toMatchObject({ ref: 'ds/train@v1', files: 2, newBytes: 0 });

      const ls = cli(['data', 'ls', '--json'], { cwd });
      expect(ls.code).toBe(0);
      expect(ls.json).toEqual([
        {
          name: 'ds',
          versions: 2,
          latest: 'ds@v2',
          digest: (add.json as { digest: string }).digest,
          files: 4,
          bytes: expect.any(Number),
          updated: expect.any(String),
        },
        {
          name: 'ds/train',
          versions: 1,
          latest: 'ds/train@v1',
          digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
          files: 2,
          bytes: 8 + 150 * 1024,
          updated: expect.any(String),
        },
      ]);

      const log = cli(['data', 'log', 'ds', '--json'], { cwd });
      expect(log.code).toBe(0);
      const versions = log.json as Array<Record<string, unknown>>;
      expect(versions.map((v) => [v.ref, v.message, v.parent, v.author])).toEqual([
        ['ds@v2', 'second', 'ds@v1', 'tester@example.com'],
        ['ds@v1', 'first', null, 'tester@example.com'],
      ]);

      const show = cli(['data', 'show', 'ds/train', '--json'], { cwd });
      expect(show.code).toBe(0);
      const shown = show.json as Record<string, unknown> & { listing: unknown[]; stats: Record<string, unknown> };
      expect(shown).toMatchObject({
        ref: 'ds/train@v1',
        parent: null,
        derivedFrom: ['ds@v2'],
        files: 2,
        truncated: false,
      });
      expect(shown.listing).toEqual([
        { path: 'a.csv', type: 'file', size: 8, digest: `sha256:${sha(files['train/a.csv'])}`, mode: '644', chunks: 1 },
        {
          path: 'b.bin',
          type: 'file',
          size: 150 * 1024,
          digest: `sha256:${sha(files['train/b.bin'])}`,
          mode: '644',
          chunks: expect.any(Number),
        },
      ]);
      expect(shown.stats).toMatchObject({ files: 2, bytes: 8 + 150 * 1024, dirs: 0, symlinks: 0, newBytes: 0 });
      const limited = cli(['data', 'show', 'ds', '--limit', '1', '--json'], { cwd });
      expect(limited.json).toMatchObject({ ref: 'ds@v2', truncated: true, listing: [{ path: 'new.txt' }] });

      const diff = cli(['data', 'diff', 'ds@v1', 'ds@v2', '--json'], { cwd });
      expect(diff.code).toBe(0);
      expect(diff.json).toMatchObject({
        from: 'ds@v1',
        to: 'ds@v2',
        added: [{ path: 'new.txt', change: 'added', type: 'file', oldSize: null, newSize: 3 }],
        removed: [],
        modified: [{ path: 'test/c.csv', change: 'modified', oldSize: 8, newSize: 8 }],
        summary: { added: 1, removed: 0, modified: 1, bytesAdded: 3, bytesRemoved: 0 },
      });

      const tag = cli(['data', 'tag', 'ds@v1', 'baseline', '--json'], { cwd });
      expect(tag.json).toEqual({
        dataset: 'ds',
        tag: 'baseline',
        ref: 'ds@v1',
        digest: expect.stringMatching(/^sha256:/),
        movedFrom: null,
      });

      const co = cli(['data', 'checkout', 'ds@baseline', 'work', '--json'], { cwd });
      expect(co.code, co.stderr).toBe(0);
      expect(co.json).toMatchObject({
        ref: 'ds@v1',
        target: join(cwd, 'work'),
        written: 3,
        removed: 0,
        unchanged: 0,
        untracked: [],
      });
      expect(readFileSync(join(cwd, 'work/train/b.bin')).equals(files['train/b.bin'])).toBe(true);

      const st = cli(['data', 'status', 'work', '--name', 'ds', '--json'], { cwd });
      expect(st.json).toMatchObject({
        dataset: 'ds',
        base: 'ds@v2',
        clean: false,
        added: [],
        removed: ['new.txt'],
        modified: ['test/c.csv'],
        unchanged: 2,
      });
      const clean = cli(['data', 'status', 'data', '--name', 'ds', '--json'], { cwd });
      expect(clean.json).toMatchObject({ clean: true, added: [], removed: [], modified: [], unchanged: 4 });

      const fsck = cli(['fsck', '--json'], { cwd });
      expect(fsck.code).toBe(0);
      expect(fsck.json).toMatchObject({
        ok: true,
        missingPacks: [],
        corruptBlobs: [],
        brokenVersions: [],
        orphanPacks: [],
      });
      const dry = cli(['gc', '--dry-run', '--json'], { cwd });
      // Nothing stored is garbage; what gc may free are the rebuildable caches `data diff` made
      // when it compared the two table versions row by row (materialized copies, typed tables).
      const cacheBytes = (dry.json as { cacheBytesFreed: number }).cacheBytesFreed;
      expect(cacheBytes).toBeGreaterThan(0);
      expect(dry.json).toEqual({
        dryRun: true,
        packsDeleted: 0,
        packsRepacked: 0,
        orphanPacksDeleted: 0,
        tempFilesDeleted: 0,
        blobsDropped: 0,
        bytesFreed: cacheBytes,
        bytesCopied: 0,
        cacheBytesFreed: cacheBytes,
        roots: 3,
      });
      const gc = cli(['gc', '--json'], { cwd });
      expect(gc.json).toMatchObject({ dryRun: false, packsDeleted: 0, roots: 3 });
      const lineage = cli(['lineage', 'ds/train@v1', '--json'], { cwd });
      expect(lineage.code, lineage.stderr).toBe(0);
      expect(JSON.stringify(lineage.json)).toContain('ds@v2');
      const audit = cli(['audit', 'log', '--json'], { cwd });
      expect(audit.code).toBe(0);
      expect((audit.json as Array<{ action: string }>).map((e) => e.action)).toContain('dataset.version.create');
      const verify = cli(['audit', 'verify', '--json'], { cwd });
      expect(verify.code, verify.stdout).toBe(0);
      expect(verify.json).toMatchObject({ ok: true });
    });

    it('refs through the CLI: unknown → NOT_FOUND exit 1, malformed → INVALID_REF exit 2', () => {
      for (const ref of ['nope', 'ds@v99', 'ds@no-such-tag', 'ds@sha256:0000000000']) {
        expectUserError(cli(['data', 'show', ref], { cwd }), 'NOT_FOUND', 1);
        expectJsonError(cli(['data', 'show', ref, '--json'], { cwd }), 'NOT_FOUND', 1);
      }
      expectJsonError(cli(['data', 'log', 'nope', '--json'], { cwd }), 'NOT_FOUND', 1);
      expectJsonError(cli(['data', 'checkout', 'ds@v99', 'x', '--json'], { cwd }), 'NOT_FOUND', 1);
      expectJsonError(cli(['data', 'diff', 'ds@v1', 'ds@v99', '--json'], { cwd }), 'NOT_FOUND', 1);
      for (const ref of ['ds@', 'ds@sha256:12', '-ds', 'ds@v1@v2', 'a b', 'ds@latest!']) {
        expectUserError(cli(['data', 'show', '--', ref], { cwd }), 'INVALID_REF', 2);
        const e = expectJsonError(cli(['data', 'show', '--json', '--', ref], { cwd }), 'INVALID_REF', 2);
        expect(e.data).toEqual({ ref });
      }
      expect(existsSync(join(cwd, 'x'))).toBe(false);
    });

    it('usage errors exit 2: unknown command or option, missing argument or option, bad choice', () => {
      const cases: string[][] = [
        ['frobnicate'],
        ['data', 'frobnicate'],
        ['data', 'ls', '--bogus'],
        ['data', 'add', 'data'], // --name is required
        ['data', 'add', '--name', 'ds'], // <path> is missing
        ['data', 'checkout', 'ds'],
        ['data', 'checkout', 'ds', 'out', '--link', 'teleport'],
        ['data', 'show', 'ds', '--limit', '-1'],
        ['data', 'show', 'ds', '--limit', 'many'],
        ['data', 'status', 'data'],
        ['data', 'diff', 'ds@v1'],
      ];
      for (const args of cases) {
        expectUserError(cli(args, { cwd }), 'USAGE', 2);
        expectJsonError(cli([...args, '--json'], { cwd }), 'USAGE', 2);
      }
      expect(existsSync(join(cwd, 'out'))).toBe(false);
    });

    it('bad names, tag conflicts and local changes: codes and exit statuses', () => {
      const name = expectJsonError(
        cli(['data', 'add', 'data', '--name', 'bad name', '--json'], { cwd }),
        'INVALID_NAME',
        2,
      );
      expect(name.data).toEqual({ name: 'bad name' });
      expectUserError(cli(['data', 'add', 'data', '--name', '../up'], { cwd }), 'INVALID_NAME', 2);
      expectJsonError(cli(['data', 'tag', 'ds@v1', 'latest', '--json'], { cwd }), 'INVALID_NAME', 2);
      expectJsonError(cli(['data', 'tag', 'ds@v1', 'v7', '--json'], { cwd }), 'INVALID_NAME', 2);
      expect(cli(['data', 'tag', 'ds@v1', 'pinned'], { cwd }).code).toBe(0);
      const moved = expectJsonError(cli(['data', 'tag', 'ds@v2', 'pinned', '--json'], { cwd }), 'ALREADY_EXISTS', 1);
      expect(moved.data).toEqual({ tag: 'pinned', current: 'ds@v1' });
      expect(moved.hint).toContain('--force');
      expect(cli(['data', 'tag', 'ds@v2', 'pinned', '--force', '--json'], { cwd }).json).toMatchObject({
        ref: 'ds@v2',
        movedFrom: 'ds@v1',
      });

      const dir = 'edited';
      expect(cli(['data', 'checkout', 'ds@v1', dir], { cwd }).code).toBe(0);
      writeFileSync(join(cwd, dir, 'train/a.csv'), 'local edit\n');
      const lc = cli(['data', 'checkout', 'ds@v2', dir], { cwd });
      expectUserError(lc, 'LOCAL_CHANGES', 1);
      expect(lc.stderr).toContain('train/a.csv');
      const lcj = expectJsonError(cli(['data', 'checkout', 'ds@v2', dir, '--json'], { cwd }), 'LOCAL_CHANGES', 1);
      expect(lcj.data.conflicts).toEqual([{ path: 'train/a.csv', reason: expect.stringMatching(/modified/) }]);
      expect(readFileSync(join(cwd, dir, 'train/a.csv'), 'utf8')).toBe('local edit\n');
      expect(cli(['data', 'checkout', 'ds@v2', dir, '--force'], { cwd }).code).toBe(0);
      expect(readFileSync(join(cwd, dir, 'train/a.csv'), 'utf8')).toBe(files['train/a.csv']);

      expectJsonError(cli(['data', 'add', 'missing-dir', '--name', 'ds', '--json'], { cwd }), 'IO_ERROR', 1);
      expectUserError(cli(['init'], { cwd }), 'WORKSPACE_EXISTS', 1);
    });

    it('human output: results on stdout, nothing on stderr', () => {
      const r = cli(['data', 'log', 'ds'], { cwd });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^ds@v2 /);
      expect(r.json).toBeUndefined();
    });
  });

  it('fsck --json on a damaged store is still one JSON document (the report inside the error)', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    writeTree(join(cwd, 'd'), { 'f.bin': prng(8, 100 * 1024) });
    expect(cli(['data', 'add', 'd', '--name', 'ds'], { cwd }).code).toBe(0);
    // Flip a byte inside the file's chunk (a 100 KiB file is one or two chunks; the first
    // starts right after the 16-byte pack header in the only pack).
    const pack = cli(['fsck', '--json'], { cwd }).json as { packsChecked: number };
    expect(pack.packsChecked).toBe(1);
    const packs = join(cwd, '.cairn/objects/packs');
    const shard = readdirOnly(packs);
    const file = join(packs, shard, readdirOnly(join(packs, shard)));
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    bytes[16 + 100] = bytes[16 + 100]! ^ 0xff;
    writeFileSync(file, bytes);
    const r = cli(['fsck', '--json'], { cwd });
    const e = expectJsonError(r, 'CHECK_FAILED', 1);
    expect(e.data.brokenVersions).toEqual(['ds@v1']);
    expect(e.data.report).toMatchObject({
      ok: false,
      brokenVersions: [{ ref: 'ds@v1', files: ['f.bin'], unreadableTrees: [] }],
    });
    const human = cli(['fsck'], { cwd });
    expectUserError({ ...human, stdout: '' }, 'CHECK_FAILED', 1);
    expect(human.stdout).toContain('damaged version ds@v1: 1 file(s): f.bin');
  });
});

function readdirOnly(dir: string): string {
  const names = readdirSync(dir);
  expect(names).toHaveLength(1);
  return names[0]!;
}
