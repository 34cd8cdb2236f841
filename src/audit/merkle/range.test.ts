import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { Frontier } from './frontier.js';
import { emptyRoot, leafHash } from './hash.js';
import { naiveRoot } from './naive.js';
import { rangeHash } from './range.js';

function perfectNodeStore(leaves: readonly Buffer[]): (level: number, index: number) => Buffer {
  const nodes = new Map<string, Buffer>();
  const frontier = new Frontier();
  leaves.forEach((leaf, i) => {
    nodes.set(`0/${i}`, leaf);
    for (const node of frontier.append(leaf)) nodes.set(`${node.level}/${node.index}`, node.hash);
  });
  return (level, index) => {
    const hash = nodes.get(`${level}/${index}`);
    if (hash === undefined) throw new Error(`no perfect node ${level}/${index}`);
    return hash;
  };
}

function throwsCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCairnError(err) ? err.code : 'not a CairnError';
  }
  return undefined;
}

describe('rangeHash', () => {
  const N = 70;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const lookup = perfectNodeStore(leaves);

  test('every aligned range equals MTH of the slice; every misaligned one throws', () => {
    let aligned = 0;
    for (let start = 0; start < N; start++) {
      for (let end = start + 1; end <= N; end++) {
        let width = 1;
        while (width * 2 <= end - start) width *= 2;
        if (start % width === 0) {
          aligned++;
          expect(rangeHash(start, end, lookup), `[${start}, ${end})`).toEqual(naiveRoot(leaves.slice(start, end)));
        } else {
          expect(
            throwsCode(() => rangeHash(start, end, lookup)),
            `[${start}, ${end})`,
          ).toBe('INVALID_INPUT');
        }
      }
    }
    expect(aligned).toBeGreaterThan(N);
  });

  test('the empty range is the empty tree', () => {
    expect(rangeHash(5, 5, lookup)).toEqual(emptyRoot());
  });

  test('nonsense ranges and corrupt stored nodes throw INVALID_INPUT', () => {
    expect(throwsCode(() => rangeHash(4, 2, lookup))).toBe('INVALID_INPUT');
    expect(throwsCode(() => rangeHash(-1, 2, lookup))).toBe('INVALID_INPUT');
    expect(throwsCode(() => rangeHash(0.5, 2, lookup))).toBe('INVALID_INPUT');
    expect(throwsCode(() => rangeHash(0, 3, () => Buffer.alloc(31)))).toBe('INVALID_INPUT');
  });

  test('asks only for the perfect blocks given by the binary digits of the length', () => {
    const asked: string[] = [];
    const spy = (level: number, index: number): Buffer => {
      asked.push(`${level}/${index}`);
      return lookup(level, index);
    };
    // 13 = 8 + 4 + 1 leaves starting at 16: [16,24) [24,28) [28,29).
    rangeHash(16, 29, spy);
    expect(asked).toEqual(['3/2', '2/6', '0/28']);
  });
});
