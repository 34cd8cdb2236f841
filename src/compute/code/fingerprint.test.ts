import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { codeFileChanges, describeFileChanges } from './changes.js';
import { codeFingerprint } from './fingerprint.js';
import { ignoreWorkspaceInGit, withWorkspaceIgnored } from '../../app/gitignore.js';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: GIT_ENV });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('code fingerprint', () => {
  const tmp = useTempDirs();
  const repo = () => {
    const dir = tmp();
    git(dir, 'init', '-q');
    writeFileSync(join(dir, 'train.py'), 'print(1)\n');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'util.py'), 'x = 1\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'one');
    return dir;
  };

  it('declared code paths: by content, so a commit elsewhere (or committing them as they are) leaves their digest; a change moves it', () => {
    const dir = repo();
    const only = ['lib/', 'train.py'];
    const a = codeFingerprint(dir, { only });
    writeFileSync(join(dir, 'README.md'), 'docs\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'docs');
    const b = codeFingerprint(dir, { only });
    expect(b.commit).not.toBe(a.commit);
    expect(b.scoped).toBe(a.scoped);
    expect(codeFingerprint(dir).commit).toBe(b.commit); // without `only` the commit is the code
    writeFileSync(join(dir, 'lib', 'util.py'), 'x = 2\n');
    const dirty = codeFingerprint(dir, { only });
    expect(dirty.scoped).not.toBe(a.scoped);
    git(dir, 'commit', '-qam', 'edit');
    const committed = codeFingerprint(dir, { only });
    expect([committed.dirty, committed.scoped === a.scoped, committed.scoped === dirty.scoped]).toEqual([
      null,
      false,
      true,
    ]);
    mkdirSync(join(dir, 'lib', '__pycache__'));
    writeFileSync(join(dir, 'lib', '__pycache__', 'util.pyc'), 'bytecode'); // a byproduct: never code
    expect(codeFingerprint(dir, { only }).scoped).toBe(committed.scoped);
    writeFileSync(join(dir, 'lib', 'new.py'), 'y = 1\n'); // untracked, inside a declared folder
    expect(codeFingerprint(dir, { only }).scoped).not.toBe(committed.scoped);
    // Outside git: the files of the declared paths only.
    const plain = tmp();
    writeFileSync(join(plain, 'train.py'), 'print(1)\n');
    writeFileSync(join(plain, 'notes.txt'), 'a\n');
    const p1 = codeFingerprint(plain, { only: ['train.py'] });
    writeFileSync(join(plain, 'notes.txt'), 'b\n');
    expect(codeFingerprint(plain, { only: ['train.py'] }).scoped).toBe(p1.scoped);
    writeFileSync(join(plain, 'train.py'), 'print(2)\n');
    expect(codeFingerprint(plain, { only: ['train.py'] }).scoped).not.toBe(p1.scoped);
  });

  it('the workspace, byproducts and excluded folders never count as code (git is not told to ignore them)', () => {
    const dir = repo();
    const clean = codeFingerprint(dir);
    expect(clean).toEqual({ commit: git(dir, 'rev-parse', 'HEAD'), dirty: null, files: {} });
    // What every cairn command and every run writes: metadata, run outputs, the input cache.
    mkdirSync(join(dir, '.cairn', 'runs', 'r1', 'out'), { recursive: true });
    writeFileSync(join(dir, '.cairn', 'meta.db'), 'changes with every command');
    writeFileSync(join(dir, '.cairn', 'runs', 'r1', 'out', 'model.bin'), 'weights');
    mkdirSync(join(dir, 'lib', '__pycache__'));
    writeFileSync(join(dir, 'lib', '__pycache__', 'util.cpython-311.pyc'), 'bytecode');
    mkdirSync(join(dir, 'cache', 'versions'), { recursive: true });
    writeFileSync(join(dir, 'cache', 'versions', 'x'), 'input');
    expect(codeFingerprint(dir, { exclude: [join(dir, 'cache'), '/elsewhere'] })).toEqual(clean);
    writeFileSync(join(dir, '.cairn', 'meta.db'), 'changed again');
    expect(codeFingerprint(dir, { exclude: [join(dir, 'cache')] })).toEqual(clean);
    // without the exclusion, the in-project cache is untracked code
    expect(codeFingerprint(dir).dirty).not.toBeNull();
  });

  it('an edited or new file is a change, with its git blob id kept per file', () => {
    const dir = repo();
    writeFileSync(join(dir, 'train.py'), 'print(2)\n');
    writeFileSync(join(dir, 'new.py'), 'y = 2\n');
    const fp = codeFingerprint(dir);
    expect(fp.dirty).toMatch(/^[0-9a-f]{64}$/);
    expect(fp.files).toEqual({
      'train.py': git(dir, 'hash-object', 'train.py'),
      'new.py': git(dir, 'hash-object', 'new.py'),
    });
    // from a sub-folder, paths are relative to it and only its files count
    writeFileSync(join(dir, 'lib', 'util.py'), 'x = 3\n');
    expect(codeFingerprint(join(dir, 'lib')).files).toEqual({ 'util.py': git(dir, 'hash-object', 'lib/util.py') });
  });

  it('names the files that differ between two runs, across commits and uncommitted changes', () => {
    const dir = repo();
    const before = codeFingerprint(dir);
    writeFileSync(join(dir, 'train.py'), 'print(2)\n');
    git(dir, 'commit', '-qam', 'two');
    writeFileSync(join(dir, 'extra.py'), 'z = 1\n');
    const after = codeFingerprint(dir);
    expect(codeFileChanges(dir, before, after)).toEqual(['extra.py added', 'train.py changed']);
    // an uncommitted edit that the next commit makes official is no difference
    writeFileSync(join(dir, 'lib', 'util.py'), 'x = 9\n');
    const dirty = codeFingerprint(dir);
    git(dir, 'add', 'lib/util.py');
    git(dir, 'commit', '-qm', 'three');
    expect(codeFileChanges(dir, dirty, codeFingerprint(dir))).toEqual([]);
    expect(codeFileChanges(dir, { commit: before.commit, files: null }, after)).toBeNull();
    expect(codeFileChanges(dir, { commit: 'f'.repeat(40), files: {} }, after)).toBeNull();
  });

  it('outside git every file is digested, the workspace is not', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.py'), 'a');
    mkdirSync(join(dir, '.cairn'));
    writeFileSync(join(dir, '.cairn', 'meta.db'), '1');
    const one = codeFingerprint(dir);
    writeFileSync(join(dir, '.cairn', 'meta.db'), '2');
    expect(codeFingerprint(dir)).toEqual(one);
    writeFileSync(join(dir, 'a.py'), 'b');
    writeFileSync(join(dir, 'b.py'), 'b');
    expect(codeFileChanges(dir, one, codeFingerprint(dir))).toEqual(['a.py changed', 'b.py added']);
  });

  it('describes changes sorted, and counts what it does not show', () => {
    const before = new Map<string, string | null>([
      ['a', '1'],
      ['b', '1'],
      ['c', null],
    ]);
    const after = new Map<string, string | null>([
      ['a', '2'],
      ['b', '1'],
      ['d', '1'],
    ]);
    expect(describeFileChanges(before, after, ['d', 'c', 'b', 'a'])).toEqual(['a changed', 'd added']);
    expect(describeFileChanges(new Map(), new Map([['x', '1']]), [])).toEqual([]);
    const many = new Map(Array.from({ length: 25 }, (_, i) => [`f${String(i).padStart(2, '0')}`, '1'] as const));
    expect(describeFileChanges(many, new Map(), many.keys()).at(-1)).toBe('and 5 more');
  });
});

describe('.gitignore for a new workspace', () => {
  const tmp = useTempDirs();
  it('adds .cairn/ once, keeps what is there, and leaves non-git folders alone', () => {
    expect(withWorkspaceIgnored('')).toBe('.cairn/\n');
    expect(withWorkspaceIgnored('node_modules')).toBe('node_modules\n.cairn/\n');
    expect(withWorkspaceIgnored('dist/\r\n/.cairn\r\n')).toBeNull();
    const dir = tmp();
    expect(ignoreWorkspaceInGit(dir)).toBe('not-git');
    git(dir, 'init', '-q');
    writeFileSync(join(dir, '.gitignore'), '*.log');
    expect(ignoreWorkspaceInGit(dir)).toBe('added');
    expect(ignoreWorkspaceInGit(dir)).toBe('present');
    expect(spawnSync('cat', [join(dir, '.gitignore')], { encoding: 'utf8' }).stdout).toBe('*.log\n.cairn/\n');
  });
});

describe('code fingerprint outside git: names that are not UTF-8', () => {
  const tmp = useTempDirs();

  it('refuses a code folder holding one (its bytes would otherwise be left out of the run key)', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'train.py'), 'print(1)\n');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(Buffer.from(`${dir}/lib/util\xe9.py`, 'latin1'), 'x = 1\n');
    let err: unknown;
    try {
      codeFingerprint(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_INPUT', data: { path: 'lib/util\\xe9.py' } });
    // A name that really holds U+FFFD is code like any other.
    writeFileSync(join(dir, 'ok\uFFFD.py'), 'y = 2\n');
    rmSync(Buffer.from(`${dir}/lib/util\xe9.py`, 'latin1'));
    expect(codeFingerprint(dir).files).toHaveProperty(['ok\uFFFD.py']);
  });

  it('in git too: an untracked one, and one among the declared code paths (its edits would not move the key)', () => {
    const dir = tmp();
    git(dir, 'init', '-q');
    writeFileSync(join(dir, 'train.py'), 'print(1)\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'one');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(Buffer.from(`${dir}/lib/util\xe9.py`, 'latin1'), 'x = 1\n');
    for (const opts of [{}, { only: ['lib/'] }]) {
      let err: unknown;
      try {
        codeFingerprint(dir, opts);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(opts)).toMatchObject({ code: 'INVALID_INPUT', data: { path: 'lib/util\\xe9.py' } });
    }
  });
});
