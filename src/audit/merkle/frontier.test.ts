import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { Frontier } from './frontier.js';
import { leafHash } from './hash.js';
import { naiveRoot } from './naive.js';

const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`record ${i}`)));

describe('Frontier', () => {
  test('root after each append equals the naive root, and each completed node equals its naive subtree', () => {
    const frontier = new Frontier();
    const reported = new Set<string>();
    for (let i = 0; i < leaves.length; i++) {
      const completed = frontier.append(leaves[i] as Buffer);
      expect(frontier.size).toBe(i + 1);
      expect(frontier.root(), `size ${i + 1}`).toEqual(naiveRoot(leaves.slice(0, i + 1)));
      let expectedLevel = 1;
      for (const node of completed) {
        // Nodes come lowest first and each one ends exactly at the new leaf.
        expect(node.level).toBe(expectedLevel++);
        const width = 2 ** node.level;
        expect((node.index + 1) * width).toBe(i + 1);
        expect(node.hash).toEqual(naiveRoot(leaves.slice(node.index * width, (node.index + 1) * width)));
        const key = `${node.level}/${node.index}`;
        expect(reported.has(key)).toBe(false);
        reported.add(key);
      }
    }
    // A tree of n leaves has n − popcount(n) perfect interior nodes, and every one was reported.
    const n = leaves.length;
    const ones = n
      .toString(2)
      .split('')
      .filter((b) => b === '1').length;
    expect(reported.size).toBe(n - ones);
  });

  test('toJSON/fromJSON round-trips at every size, and a restored frontier keeps appending correctly', () => {
    const frontier = new Frontier();
    for (let i = 0; i < 100; i++) {
      const json = JSON.parse(JSON.stringify(frontier)) as unknown;
      const restored = Frontier.fromJSON(json);
      expect(restored.toJSON()).toEqual(frontier.toJSON());
      expect(restored.size).toBe(i);
      expect(restored.root()).toEqual(frontier.root());

      // Carry the restored copy forward a few leaves and compare both the roots and the reported nodes.
      const original = Frontier.fromJSON(frontier.toJSON());
      for (let j = i; j < Math.min(i + 9, leaves.length); j++) {
        expect(restored.append(leaves[j] as Buffer)).toEqual(original.append(leaves[j] as Buffer));
        expect(restored.root()).toEqual(naiveRoot(leaves.slice(0, j + 1)));
      }
      frontier.append(leaves[i] as Buffer);
    }
  });

  test('the JSON form is the size and the perfect subtree hashes in hex, left to right', () => {
    const frontier = new Frontier();
    for (let i = 0; i < 6; i++) frontier.append(leaves[i] as Buffer);
    expect(frontier.toJSON()).toEqual({
      size: 6,
      hashes: [naiveRoot(leaves.slice(0, 4)).toString('hex'), naiveRoot(leaves.slice(4, 6)).toString('hex')],
    });
    expect(frontier.hashes.map((h) => h.toString('hex'))).toEqual(frontier.toJSON().hashes);
  });

  test('fromJSON rejects anything that is not a frontier', () => {
    const good = (() => {
      const f = new Frontier();
      for (let i = 0; i < 5; i++) f.append(leaves[i] as Buffer);
      return f.toJSON();
    })();
    const bad: unknown[] = [
      null,
      'x',
      {},
      { size: 5 },
      { size: 5, hashes: good.hashes.slice(0, 1) },
      { size: 4, hashes: good.hashes },
      { size: -1, hashes: [] },
      { size: 1.5, hashes: [good.hashes[0]] },
      { size: 5, hashes: [good.hashes[0], (good.hashes[1] as string).toUpperCase()] },
      { size: 5, hashes: [good.hashes[0], (good.hashes[1] as string).slice(2)] },
      { size: 5, hashes: [good.hashes[0], 7] },
    ];
    for (const value of bad) {
      let caught: unknown;
      try {
        Frontier.fromJSON(value);
      } catch (err) {
        caught = err;
      }
      expect(isCairnError(caught, 'INVALID_INPUT'), JSON.stringify(value)).toBe(true);
    }
    expect(Frontier.fromJSON(good).root()).toEqual(naiveRoot(leaves.slice(0, 5)));
  });

  test('append refuses anything but a 32-byte leaf hash', () => {
    const frontier = new Frontier();
    expect(() => frontier.append(Buffer.alloc(31))).toThrow(/32 bytes/);
    expect(frontier.size).toBe(0);
  });

  test('the returned and exposed hashes cannot corrupt the frontier', () => {
    const frontier = new Frontier();
    frontier.append(leaves[0] as Buffer);
    const [node] = frontier.append(leaves[1] as Buffer);
    node?.hash.fill(0);
    frontier.hashes[0]?.fill(0);
    expect(frontier.root()).toEqual(naiveRoot(leaves.slice(0, 2)));
  });
});
