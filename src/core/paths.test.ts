import { describe, expect, it } from 'vitest';
import { CairnError } from './errors.js';
import { checkRelPath, checkSegment, inReservedDir, relPathProblem, symlinkStaysInside } from './paths.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('relPathProblem / checkRelPath', () => {
  it('accepts relative POSIX paths, including odd but harmless names', () => {
    for (const p of ['a', 'a/b/c.txt', '...', 'a/..b', 'a/b..', '.hidden', 'x/.y', 'sp ace/é/😀', 'a\\b']) {
      expect(relPathProblem(p), p).toBeNull();
      expect(checkRelPath(p)).toBe(p);
    }
  });

  it('names the problem with each unsafe path', () => {
    const cases: Array<[string, string]> = [
      ['', 'it is empty'],
      ['a\0b', 'it contains a NUL byte'],
      ['/etc/passwd', 'it is absolute'],
      ['C:/x', 'it is an absolute Windows path'],
      ['c:x', 'it is an absolute Windows path'],
      ['\\\\server\\share', 'it is an absolute Windows path'],
      ['a//b', 'it has an empty segment'],
      ['a/', 'it has an empty segment'],
      ['..', 'it climbs out with ..'],
      ['a/../../x', 'it climbs out with ..'],
      // Even a '..' that would stay inside is refused: manifests never need it.
      ['a/b/../c', 'it climbs out with ..'],
      ['.', 'it has a . segment'],
      ['./x', 'it has a . segment'],
      ['a/./b', 'it has a . segment'],
    ];
    for (const [p, why] of cases) {
      expect(relPathProblem(p), JSON.stringify(p)).toBe(why);
      const err = refusal(() => checkRelPath(p));
      expect(err.code).toBe('PATH_UNSAFE');
      expect(err.data).toEqual({ path: p });
      expect(err.message).toContain(why);
    }
  });

  it("refuses .cairn as any segment (a workspace's metadata), but not names that only start with it", () => {
    for (const p of ['.cairn', '.cairn/meta.db', 'a/.cairn', 'a/.cairn/keys/signing.key']) {
      expect(relPathProblem(p), p).toBe("it names .cairn, which is reserved for a workspace's metadata");
    }
    for (const p of ['.cairnx', 'a/.cairn-tmp', 'x.cairn', '_cairn']) expect(relPathProblem(p), p).toBeNull();
    expect(inReservedDir('/home/u/proj/.cairn')).toBe(true);
    expect(inReservedDir('/home/u/proj/.cairn/cache')).toBe(true);
    expect(inReservedDir('/home/u/proj/out')).toBe(false);
  });

  it('treats a non-string as empty rather than crashing', () => {
    expect(relPathProblem(undefined as unknown as string)).toBe('it is empty');
  });
});

describe('checkSegment', () => {
  it('accepts one name and refuses anything that is not exactly one safe segment', () => {
    expect(checkSegment('file.txt')).toBe('file.txt');
    expect(checkSegment('...')).toBe('...');
    for (const bad of ['', '.', '..', 'a/b', '/', 'a\0', '.cairn']) {
      const err = refusal(() => checkSegment(bad));
      expect(err.code, JSON.stringify(bad)).toBe('PATH_UNSAFE');
      expect(err.data).toEqual({ name: bad });
    }
  });
});

describe('symlinkStaysInside', () => {
  it('resolves targets lexically from the link’s own directory', () => {
    const cases: Array<[link: string, target: string, inside: boolean]> = [
      ['link', 'file', true],
      ['link', './x', true],
      ['link', '.', true], // the root itself is inside
      ['link', 'a/..', true],
      ['link', 'x//y', true],
      ['a/link', '../b', true],
      ['a/link', '..', true],
      ['a/b/link', '../../x', true],
      ['a/link', 'b/../../c', true],
      ['link', '..', false],
      ['link', '../x', false],
      ['link', 'a/../../x', false], // climbs back out after going in
      ['a/link', '../../x', false],
      ['a/b/link', '../../../x', false],
      ['a/link', 'b/../../../x', false],
      ['link', '/etc/passwd', false],
      ['a/link', '/', false],
      ['link', '', false],
      ['link', 'a\0b', false],
      // No tree holds .cairn: a link through it could only reach a workspace's metadata.
      ['link', '.cairn/meta.db', false],
      ['a/link', '../.cairn', false],
      ['link', '.cairnx', true],
    ];
    for (const [link, target, inside] of cases) {
      expect(symlinkStaysInside(link, target), `${link} -> ${target}`).toBe(inside);
    }
  });

  it('never lets a path dip below the root, even if it comes back up', () => {
    // ../root/x from the root names a sibling directory that happens to share the root's name.
    expect(symlinkStaysInside('link', '../root/x')).toBe(false);
  });
});
