import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cli, type CliResult } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

interface ErrorDoc {
  error: { code: string; message: string; hint?: string; data: Record<string, unknown> };
}

const isRoot = process.getuid?.() === 0;
/** Root reads anything, so permission tests run the CLI as `nobody` when we are root. */
const NOBODY = { uid: 65534, gid: 65534 };

/** The CLI as an unprivileged user (ourselves when not root). */
function cliAs(args: string[], cwd: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, HOME: cwd, CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'tester@example.com' },
    encoding: 'utf8',
    ...(isRoot ? NOBODY : {}),
  });
  let json: unknown;
  try {
    json = args.includes('--json') ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/** Everything in the object store (packs and temp files). */
function storeFiles(cwd: string): string[] {
  const out: string[] = [];
  for (const sub of ['packs', 'tmp']) {
    const dir = join(cwd, '.cairn', 'objects', sub);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
      if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

function auditSize(cwd: string): number {
  const r = cli(['audit', 'log', '--json'], { cwd });
  expect(r.code, r.stderr).toBe(0);
  return (r.json as unknown[]).length;
}

describe('fault: bad input writes nothing', () => {
  const tmp = useTempDirs();

  /** A workspace made by the unprivileged user, a readable dataset in it, and a tree to add. */
  function unreadableSetup(secretSize: number) {
    const cwd = tmp();
    chmodSync(cwd, 0o777);
    const init = cliAs(['init'], cwd);
    expect(init.code, init.stderr).toBe(0);
    writeTree(join(cwd, 'data'), {
      'a.txt': 'readable',
      'b/big.bin': prng(3, 3 * 1024 * 1024),
      'b/secret.bin': prng(4, secretSize),
      'c.txt': 'also readable',
    });
    chmodSync(join(cwd, 'data/b/secret.bin'), 0o000);
    // A readable dataset first, so "nothing written" is measured against a non-empty store.
    writeTree(join(cwd, 'ok'), { 'x.txt': 'x' });
    expect(cliAs(['data', 'add', 'ok', '--name', 'ok'], cwd).code).toBe(0);
    return { cwd, before: storeFiles(cwd) };
  }

  function expectNothingWritten(cwd: string, before: string[], attempts: number): void {
    expect(cliAs(['data', 'ls', '--json'], cwd).json).toEqual([
      {
        name: 'ok',
        versions: 1,
        latest: 'ok@v1',
        digest: expect.any(String),
        files: 1,
        bytes: 1,
        updated: expect.any(String),
      },
    ]);
    expect(storeFiles(cwd)).toEqual(before);
    // The failed attempts are on the audit record, and the log still verifies.
    const failed = cliAs(['audit', 'log', '--action', 'dataset.version.create', '--outcome', 'failed', '--json'], cwd);
    expect((failed.json as unknown[]).length).toBe(attempts);
    expect(cliAs(['audit', 'verify'], cwd).code).toBe(0);
  }

  it('an unreadable small file: IO_ERROR naming it, exit 1, no version, no pack', () => {
    const { cwd, before } = unreadableSetup(10 * 1024);
    const r = cliAs(['data', 'add', 'data', '--name', 'ds', '--json'], cwd);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const e = (r.json as ErrorDoc).error;
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toBe(`cannot read ${join(cwd, 'data/b/secret.bin')}: permission denied`);
    expect(e.data).toEqual({ path: 'b/secret.bin', errno: 'EACCES' });
    const human = cliAs(['data', 'add', 'data', '--name', 'ds'], cwd);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/^cairn: error\[IO_ERROR\]: cannot read .*secret\.bin: permission denied\nhint: \S/);
    expectNothingWritten(cwd, before, 2);
  });

  it('an unreadable large file (chunked by the streaming path): IO_ERROR, exit 1, no version, no pack', () => {
    const { cwd, before } = unreadableSetup(300 * 1024);
    const r = cliAs(['data', 'add', 'data', '--name', 'ds', '--json'], cwd);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect((r.json as ErrorDoc).error).toMatchObject({ code: 'IO_ERROR', data: { errno: 'EACCES' } });
    expectNothingWritten(cwd, before, 1);
  });

  it('an unreadable large file is named in the error', () => {
    const { cwd } = unreadableSetup(300 * 1024);
    const e = (cliAs(['data', 'add', 'data', '--name', 'ds', '--json'], cwd).json as ErrorDoc).error;
    expect(e.message).toBe(`cannot read ${join(cwd, 'data/b/secret.bin')}: permission denied`);
    expect(e.data).toEqual({ path: 'b/secret.bin', errno: 'EACCES' });
  });

  it('an unreadable directory: IO_ERROR naming it, nothing written', () => {
    const cwd = tmp();
    chmodSync(cwd, 0o777);
    expect(cliAs(['init'], cwd).code).toBe(0);
    writeTree(join(cwd, 'data'), { 'a.txt': 'a', 'locked/inner.txt': 'hidden' });
    chmodSync(join(cwd, 'data/locked'), 0o000);
    const r = cliAs(['data', 'add', 'data', '--name', 'ds', '--json'], cwd);
    chmodSync(join(cwd, 'data/locked'), 0o755);
    expect(r.code).toBe(1);
    expect((r.json as ErrorDoc).error).toMatchObject({
      code: 'IO_ERROR',
      data: { path: join(cwd, 'data/locked'), errno: 'EACCES' },
    });
    expect(cliAs(['data', 'ls', '--json'], cwd).json).toEqual([]);
    expect(storeFiles(cwd)).toEqual([]);
  });

  it('a FIFO in the tree: INVALID_INPUT, exit 1, nothing written (and the add does not hang)', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    writeTree(join(cwd, 'data'), { 'a.txt': 'a', 'sub/b.bin': prng(5, 100 * 1024) });
    execFileSync('mkfifo', [join(cwd, 'data/sub/pipe')]);
    const r = cli(['data', 'add', 'data', '--name', 'ds', '--json'], { cwd });
    expect(r.code).toBe(1);
    const e = (r.json as ErrorDoc).error;
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.data).toEqual({ path: 'sub/pipe' });
    expect(e.message).toContain(join(cwd, 'data/sub/pipe'));
    expect(e.hint).toMatch(/FIFO/);
    expect(cli(['data', 'ls', '--json'], { cwd }).json).toEqual([]);
    expect(storeFiles(cwd)).toEqual([]);
    // status refuses the same way
    expect((cli(['data', 'status', 'data', '--name', 'ds', '--json'], { cwd }).json as ErrorDoc).error.code).toBe(
      'INVALID_INPUT',
    );
  });

  it('bad dataset names: INVALID_NAME, exit 2, nothing written, no audit event', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    writeTree(join(cwd, 'data'), { 'a.txt': 'a' });
    const events = auditSize(cwd);
    for (const name of [
      'has space',
      '../escape',
      '/abs',
      'a//b',
      'trailing/',
      '-dash',
      '.dot',
      'a..b',
      'x@v1',
      'ünïcödé',
      'n'.repeat(201),
    ]) {
      const r = cli(['data', 'add', 'data', '--name', name, '--json'], { cwd });
      expect(r.code, name).toBe(2);
      expect((r.json as ErrorDoc).error).toMatchObject({ code: 'INVALID_NAME', data: { name } });
    }
    for (const name of ['has space', '../escape']) {
      const human = cli(['data', 'add', 'data', '--name', name], { cwd });
      expect(human.code).toBe(2);
      expect(human.stderr).toMatch(/^cairn: error\[INVALID_NAME\]: .*\nhint: \S/);
    }
    expect((cli(['data', 'status', 'data', '--name', 'bad name', '--json'], { cwd }).json as ErrorDoc).error.code).toBe(
      'INVALID_NAME',
    );
    expect(cli(['data', 'ls', '--json'], { cwd }).json).toEqual([]);
    expect(storeFiles(cwd)).toEqual([]);
    expect(auditSize(cwd)).toBe(events);
  });

  it('unknown refs and missing paths: a clear error, nothing written', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    writeTree(join(cwd, 'data'), { 'a.txt': 'a' });
    expect(cli(['data', 'add', 'data', '--name', 'ds'], { cwd }).code).toBe(0);
    const store = storeFiles(cwd);
    const events = auditSize(cwd);
    for (const ref of ['nope', 'ds@v2', 'ds@missing-tag']) {
      const r = cli(['data', 'checkout', ref, 'out', '--json'], { cwd });
      expect(r.code).toBe(1);
      expect((r.json as ErrorDoc).error.code).toBe('NOT_FOUND');
      expect(cli(['data', 'tag', ref, 'x', '--json'], { cwd }).code).toBe(1);
    }
    expect(
      (cli(['data', 'add', 'data', '--name', 'derived', '--from', 'ds@v9', '--json'], { cwd }).json as ErrorDoc).error
        .code,
    ).toBe('NOT_FOUND');
    const missing = cli(['data', 'add', 'no-such-dir', '--name', 'ds', '--json'], { cwd });
    expect(missing.code).toBe(1);
    expect((missing.json as ErrorDoc).error).toMatchObject({
      code: 'IO_ERROR',
      data: { path: 'no-such-dir', errno: 'ENOENT' },
    });
    expect(existsSync(join(cwd, 'out'))).toBe(false);
    expect(storeFiles(cwd)).toEqual(store);
    expect(cli(['data', 'ls', '--json'], { cwd }).json).toMatchObject([{ name: 'ds', versions: 1 }]);
    expect(auditSize(cwd)).toBe(events);
  });
});
