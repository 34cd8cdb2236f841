import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { mulberry32 } from '../../test-support/prng.js';
import { compareNames, decodeTree, encodeTree, type TreeEntry, type TreeNode } from './node.js';
import { sha256Hex as sha } from '../../core/digest.js';

const ID = sha('node under test');

function fileEntry(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'file', size: 1, mode: '644', digest: sha(name), ...over };
}

function bytesOf(node: unknown): Buffer {
  return Buffer.from(JSON.stringify(node));
}

function refusal(bytes: Uint8Array): CairnError {
  try {
    decodeTree(bytes, ID);
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('decodeTree accepted it');
}

describe('compareNames', () => {
  it('orders by UTF-8 bytes, which differs from UTF-16 order above U+D7FF', () => {
    // U+1F600 is F0 9F 98 80 in UTF-8 (after EF BF BF for U+FFFF) but D83D DE00 in UTF-16 (before FFFF).
    expect(compareNames('\u{1F600}', '\uFFFF')).toBeGreaterThan(0);
    expect('\u{1F600}' < '\uFFFF').toBe(true);
    expect(compareNames('\uE000', '\u{10000}')).toBeLessThan(0);
    expect(compareNames('é', 'z')).toBeGreaterThan(0);
    expect(compareNames('z', 'é')).toBeLessThan(0);
  });

  it('orders ASCII by byte: upper case first, prefixes first, and equal names are 0', () => {
    expect(compareNames('B', 'a')).toBeLessThan(0);
    expect(compareNames('a', 'ab')).toBeLessThan(0);
    expect(compareNames('a.txt', 'a-txt')).toBeGreaterThan(0);
    expect(compareNames('same', 'same')).toBe(0);
    expect(compareNames('é', 'é')).toBe(0);
    expect(compareNames('a', 'aé')).toBeLessThan(0);
  });

  it('sorts a mixed list the way a byte-wise sort of the UTF-8 encodings does', () => {
    const names = [
      'z',
      'é',
      '\uFFFF',
      '\u{1F600}',
      'A',
      'a',
      '0',
      'ab',
      '\u0080',
      '\u07FF',
      '\u0800',
      '\u{10FFFF}',
      '_',
    ];
    const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...names].sort(compareNames)).toEqual(byBytes);
    expect(byBytes.at(-1)).toBe('\u{10FFFF}');
  });
});

describe('decodeTree', () => {
  it('accepts what encodeTree writes and returns the same node', () => {
    const entries: TreeEntry[] = [
      { name: 'a', type: 'file', size: 3, mode: '755', digest: sha('a'), chunks: [sha('c1'), sha('c2')] },
      { name: 'b', type: 'dir', tree: sha('t'), size: 10, files: 2 },
      { name: 'l', type: 'symlink', target: 'a' },
      { name: 'z', type: 'file', size: 0, mode: '644', digest: sha('') },
      { name: 'é', type: 'file', size: 1, mode: '644', digest: sha('e') },
    ];
    const { id, bytes } = encodeTree({ v: 1, entries });
    expect(decodeTree(bytes, id)).toEqual({ v: 1, entries });
    // A subarray of a larger buffer decodes too (readers hand out slices of pack reads).
    const padded = Buffer.concat([Buffer.from('xx'), bytes, Buffer.from('yy')]);
    expect(decodeTree(padded.subarray(2, 2 + bytes.length), id)).toEqual({ v: 1, entries });
  });

  it('refuses unsafe names as PATH_UNSAFE naming the tree and the name', () => {
    for (const name of ['..', '.', '', 'a/b', '/', 'a\0b']) {
      const err = refusal(bytesOf({ v: 1, entries: [fileEntry(name)] }));
      expect(err.code, JSON.stringify(name)).toBe('PATH_UNSAFE');
      expect(err.data).toEqual({ tree: ID, name });
    }
  });

  it('refuses unsorted and duplicate entries as CORRUPT_OBJECT', () => {
    for (const names of [
      ['b', 'a'],
      ['a', 'a'],
      ['é', 'z'],
      ['\u{1F600}', '\uFFFF'],
      ['a', 'c', 'b'],
    ]) {
      const err = refusal(bytesOf({ v: 1, entries: names.map((n) => fileEntry(n)) }));
      expect(err.code, names.join(',')).toBe('CORRUPT_OBJECT');
      expect(err.message).toContain('not sorted or duplicated');
    }
    // UTF-16 order would reject this; UTF-8 byte order accepts it.
    expect(
      decodeTree(bytesOf({ v: 1, entries: [fileEntry('\uFFFF'), fileEntry('\u{1F600}')] }), ID).entries,
    ).toHaveLength(2);
  });

  it('refuses bytes that are not a version 1 node', () => {
    const cases: Array<[Uint8Array, string]> = [
      [Buffer.from('{"v":1,"entries":['), 'not JSON'],
      [Buffer.from(''), 'not JSON'],
      [Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"entries":[],"v":1}')]), 'not JSON'], // a BOM is not canonical JSON
      [bytesOf(null), 'not a version 1 tree node'],
      [bytesOf([]), 'not a version 1 tree node'],
      [bytesOf({ v: 2, entries: [] }), 'not a version 1 tree node'],
      [bytesOf({ v: '1', entries: [] }), 'not a version 1 tree node'],
      [bytesOf({ v: 1 }), 'not a version 1 tree node'],
      [bytesOf({ v: 1, entries: {} }), 'not a version 1 tree node'],
      [bytesOf({ v: 1, entries: [null] }), 'entry without a name'],
      [bytesOf({ v: 1, entries: ['a'] }), 'entry without a name'],
      [bytesOf({ v: 1, entries: [{ type: 'file' }] }), 'entry without a name'],
      [bytesOf({ v: 1, entries: [{ name: 7, type: 'file' }] }), 'entry without a name'],
    ];
    for (const [bytes, why] of cases) {
      const err = refusal(bytes);
      expect(err.code, why).toBe('CORRUPT_OBJECT');
      expect(err.message).toBe(`tree ${ID} is malformed: ${why}`);
      expect(err.data).toEqual({ tree: ID });
    }
  });

  it('refuses unknown entry types and malformed fields', () => {
    const bad: Array<Record<string, unknown>> = [
      { name: 'x', type: 'socket' },
      { name: 'x', type: 'hardlink', target: 'y' },
      { name: 'x' },
      fileEntry('x', { size: -1 }),
      fileEntry('x', { size: 1.5 }),
      fileEntry('x', { size: '1' }),
      fileEntry('x', { size: 2 ** 53 }),
      fileEntry('x', { mode: '777' }),
      fileEntry('x', { mode: 644 }),
      fileEntry('x', { digest: 'abc' }),
      fileEntry('x', { digest: null }),
      fileEntry('x', { chunks: 'abc' }),
      fileEntry('x', { chunks: [sha('a'), 'short'] }),
      { name: 'x', type: 'dir', tree: 'short', size: 0, files: 0 },
      { name: 'x', type: 'dir', tree: sha('t'), size: 0 },
      { name: 'x', type: 'dir', tree: sha('t'), size: 0, files: -1 },
      { name: 'x', type: 'symlink' },
      { name: 'x', type: 'symlink', target: 5 },
    ];
    for (const e of bad) {
      const err = refusal(bytesOf({ v: 1, entries: [e] }));
      expect(err.code, JSON.stringify(e)).toBe('CORRUPT_OBJECT');
    }
  });

  it('refuses names that are not valid UTF-8 or hold lone surrogates', () => {
    // docs/FORMAT.md §4: a name "is valid UTF-8", checked on every read. A lossy decode would
    // turn the bad byte into U+FFFD and write a file under a name the tree never contained.
    const invalid = Buffer.concat([
      Buffer.from('{"entries":[{"digest":"' + sha('x') + '","mode":"644","name":"a'),
      Buffer.from([0xff]),
      Buffer.from('","size":1,"type":"file"}],"v":1}'),
    ]);
    expect(refusal(invalid).code).toBe('CORRUPT_OBJECT');
    const lone = Buffer.from(
      `{"entries":[{"digest":"${sha('x')}","mode":"644","name":"a\\ud800","size":1,"type":"file"}],"v":1}`,
    );
    expect(refusal(lone).code).toBe('PATH_UNSAFE');
  });
});

describe('encodeTree fast path', () => {
  // The fast writer must give exactly canonicalJson's bytes (the node id is their SHA-256), or
  // defer to it: random nodes (seeded) with odd names, numbers, missing or extra fields, wrong types.
  const rnd = mulberry32(0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ATOMS = ['a', 'é', '\uD800', '\uDC00', '\uD83D\uDE00', '"', '\\', '\n', '\u2028', '\u0000', '0', 'Z', '~'];
  const str = () => Array.from({ length: Math.floor(rnd() * 5) }, () => pick(ATOMS)).join('');
  const num = () => pick([0, 1, 7, 123456789, -0, -3, 0.5, 1e21, 2 ** 53, NaN, Infinity, Math.floor(rnd() * 1e9)]);
  const maybe = <T>(f: () => T): T | undefined => (rnd() < 0.3 ? undefined : f());
  const entry = (): Record<string, unknown> => {
    const k = rnd();
    const e: Record<string, unknown> =
      k < 0.5
        ? {
            name: str(),
            type: 'file',
            size: num(),
            mode: pick(['644', '755', '777']),
            digest: str(),
            chunks: maybe(() => Array.from({ length: Math.floor(rnd() * 3) }, str)),
          }
        : k < 0.8
          ? { name: str(), type: 'dir', tree: str(), size: num(), files: num() }
          : { name: str(), type: pick(['symlink', 'other']), target: str() };
    if (rnd() < 0.1) e[pick(['x', 'chunks', 'zz', 'a', 'name'])] = pick([str(), num(), undefined]);
    if (rnd() < 0.05) delete e[pick(Object.keys(e))];
    return e;
  };
  const outcome = (f: () => string) => {
    try {
      return f();
    } catch (err) {
      return `throws ${(err as CairnError).code}`;
    }
  };
  it('gives canonicalJson bytes for every node', () => {
    for (let run = 0; run < 5000; run++) {
      const entries = Array.from({ length: Math.floor(rnd() * 6) }, entry);
      const node = rnd() < 0.05 ? { v: 1, entries, note: 'x' } : { v: rnd() < 0.02 ? 2 : 1, entries };
      expect(outcome(() => encodeTree(node as unknown as TreeNode).bytes.toString('hex'))).toBe(
        outcome(() => Buffer.from(canonicalJson(node), 'utf8').toString('hex')),
      );
    }
  });
  it('matches on the entries add writes', () => {
    const node: TreeNode = {
      v: 1,
      entries: [
        { name: 'a.bin', type: 'file', size: 3, mode: '644', digest: 'ab' },
        { name: 'b', type: 'file', size: 9, mode: '755', digest: 'cd', chunks: ['e', 'f'] },
        { name: 'd', type: 'dir', tree: '01', size: 12, files: 2 },
        { name: 'l', type: 'symlink', target: '../a.bin' },
      ],
    };
    expect(encodeTree(node).bytes.toString('utf8')).toBe(canonicalJson(node));
  });
});
