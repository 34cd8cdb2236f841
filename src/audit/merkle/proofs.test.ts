import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { Frontier } from './frontier.js';
import { emptyRoot, leafHash, nodeHash } from './hash.js';
import { naiveConsistencyProof, naiveInclusionProof, naiveRoot } from './naive.js';
import { consistencyProof, inclusionProof, rootFromInclusion, verifyConsistency, verifyInclusion } from './proofs.js';
import type { RangeHasher } from './proofs.js';
import { rangeHash } from './range.js';

/** An in-memory log: leaf hashes and completed perfect nodes in a Map, as a real log would store them. */
function buildLog(leaves: readonly Buffer[]): { mth: RangeHasher; nodes: Map<number, Buffer> } {
  const nodes = new Map<number, Buffer>();
  // level < 64 and index < 2^32 here, so this key is exact and unique.
  const key = (level: number, index: number): number => index * 64 + level;
  const frontier = new Frontier();
  for (const [i, leaf] of leaves.entries()) {
    nodes.set(key(0, i), leaf);
    for (const node of frontier.append(leaf)) nodes.set(key(node.level, node.index), node.hash);
  }
  const lookup = (level: number, index: number): Buffer => {
    const hash = nodes.get(key(level, index));
    if (hash === undefined) throw new Error(`no perfect node ${level}/${index}`);
    return hash;
  };
  return { mth: (start, end) => rangeHash(start, end, lookup), nodes };
}

const hex = (hashes: readonly Buffer[]): string[] => hashes.map((h) => h.toString('hex'));

function flipBit(proof: readonly Buffer[], i: number, mask: number): Buffer[] {
  return proof.map((h, j) => {
    if (j !== i) return h;
    const copy = Buffer.from(h);
    copy[0] = (copy[0] as number) ^ mask;
    return copy;
  });
}

describe('RFC 6962 §2.1.3 worked example (7 leaves)', () => {
  const d = Array.from({ length: 7 }, (_, i) => Buffer.from(`d${i}`));
  const [a, b, c, dd, e, f, j] = d.map(leafHash) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
  // The figure's nodes: j sits alone above d6, so it is d6's leaf hash.
  const g = nodeHash(a, b);
  const h = nodeHash(c, dd);
  const i = nodeHash(e, f);
  const k = nodeHash(g, h);
  const l = nodeHash(i, j);
  const hash = nodeHash(k, l);
  const hash0 = nodeHash(g, c);
  const hash1 = k;
  const hash2 = nodeHash(k, i);
  const leaves = [a, b, c, dd, e, f, j];
  const mth: RangeHasher = (s, t) => naiveRoot(leaves.slice(s, t));
  const stored = buildLog(leaves).mth;

  test('the tree heads of the incremental figures', () => {
    expect(naiveRoot(leaves)).toEqual(hash);
    expect(naiveRoot(leaves.slice(0, 3))).toEqual(hash0);
    expect(naiveRoot(leaves.slice(0, 4))).toEqual(hash1);
    expect(naiveRoot(leaves.slice(0, 6))).toEqual(hash2);
  });

  test.each([
    ['d0', 0, [b, h, l]],
    ['d3', 3, [c, g, l]],
    ['d4', 4, [f, j, k]],
    ['d6', 6, [i, k]],
  ] as const)('the audit path for %s', (_name, index, expected) => {
    for (const hasher of [mth, stored]) expect(hex(inclusionProof(index, 7, hasher))).toEqual(hex(expected));
    expect(verifyInclusion(leaves[index] as Buffer, index, 7, expected, hash)).toBe(true);
  });

  test.each([
    ['hash0', 3, hash0, [c, dd, g, l]],
    ['hash1', 4, hash1, [l]],
    ['hash2', 6, hash2, [i, j, k]],
  ] as const)('the consistency proof between %s and hash', (_name, m, old, expected) => {
    for (const hasher of [mth, stored]) expect(hex(consistencyProof(m, 7, hasher))).toEqual(hex(expected));
    expect(verifyConsistency(m, 7, old, hash, expected)).toBe(true);
  });
});

describe('transparency-dev/merkle (Trillian, certificate-transparency-go) proof vectors', () => {
  const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const leaves = inputs.map((x) => leafHash(Buffer.from(x, 'hex')));
  const { mth } = buildLog(leaves);
  const root = (n: number): Buffer => naiveRoot(leaves.slice(0, n));

  // proof/verify_test.go `inclusionProofs`; the file numbers leaves from 1, here they are 0-based.
  const inclusion: Array<[number, number, string[]]> = [
    [0, 1, []],
    [
      0,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      5,
      8,
      [
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
    [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
    [
      1,
      5,
      [
        '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
  ];

  // proof/verify_test.go `consistencyProofs`.
  const consistency: Array<[number, number, string[]]> = [
    [1, 1, []],
    [
      1,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      6,
      8,
      [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
    [
      2,
      5,
      [
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
    [
      6,
      7,
      [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
  ];

  test.each(inclusion)('inclusion of leaf %i in a tree of %i', (index, size, expected) => {
    const proof = inclusionProof(index, size, mth);
    expect(hex(proof)).toEqual(expected);
    expect(rootFromInclusion(leaves[index] as Buffer, index, size, proof)).toEqual(root(size));
    expect(verifyInclusion(leaves[index] as Buffer, index, size, proof, root(size))).toBe(true);
  });

  test.each(consistency)('consistency from size %i to %i', (m, n, expected) => {
    const proof = consistencyProof(m, n, mth);
    expect(hex(proof)).toEqual(expected);
    expect(verifyConsistency(m, n, root(m), root(n), proof)).toBe(true);
  });
});

describe('every proof of every tree up to 70 leaves', () => {
  const N = 70;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const { mth } = buildLog(leaves);
  const roots = Array.from({ length: N + 1 }, (_, n) => naiveRoot(leaves.slice(0, n)));
  const other = leafHash(Buffer.from('not in the log'));

  // Each mutation's verdict is checked exactly (false, nothing else); the ones that are not are
  // gathered and asserted once, as one expect() per mutation cost most of this file's CPU.
  test('inclusion: generated = naive PATH, verifies, and every mutation fails', () => {
    let checked = 0;
    const accepted: string[] = [];
    for (let n = 1; n <= N; n++) {
      const root = roots[n] as Buffer;
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i] as Buffer;
        const proof = inclusionProof(i, n, mth);
        expect(hex(proof)).toEqual(hex(naiveInclusionProof(i, leaves.slice(0, n))));
        expect(verifyInclusion(leaf, i, n, proof, root), `${i} in ${n}`).toBe(true);

        const bad = (why: string, ...args: Parameters<typeof verifyInclusion>): void => {
          if (verifyInclusion(...args) !== false) accepted.push(`${why}: ${i} in ${n}`);
          checked++;
        };
        for (let p = 0; p < proof.length; p++) {
          for (const mask of [0x01, 0x08, 0x80]) bad(`bit flip in [${p}]`, leaf, i, n, flipBit(proof, p, mask), root);
        }
        if (proof.length > 0) bad('truncated', leaf, i, n, proof.slice(0, -1), root);
        bad('extended', leaf, i, n, [...proof, root], root);
        bad('preceded', leaf, i, n, [root, ...proof], root);
        bad('wrong leaf', other, i, n, proof, root);
        bad('wrong root', leaf, i, n, proof, roots[n - 1] as Buffer);
        for (const j of [i - 1, i + 1, i ^ 2]) if (j !== i && j >= 0) bad(`index ${j}`, leaf, j, n, proof, root);
        // A different size, whether against the same root (a lie about the size) or that size's root.
        for (const m of [n * 2, Math.floor(n / 2)]) bad(`size ${m}`, leaf, i, m, proof, root);
        for (const m of [n - 1, n + 1, n * 2]) {
          if (m > i && m !== n && m <= N) bad(`size ${m} with its root`, leaf, i, m, proof, roots[m] as Buffer);
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });

  test('consistency: generated = naive PROOF, verifies, and every mutation fails', () => {
    const accepted: string[] = [];
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, n, mth);
        const root1 = roots[m] as Buffer;
        const root2 = roots[n] as Buffer;
        expect(hex(proof)).toEqual(hex(naiveConsistencyProof(m, leaves.slice(0, n))));
        expect(verifyConsistency(m, n, root1, root2, proof), `${m} -> ${n}`).toBe(true);
        if (m === n) {
          expect(proof).toEqual([]);
          expect(verifyConsistency(m, n, root1, roots[n - 1] as Buffer, proof)).toBe(false);
          expect(verifyConsistency(m, n, root1, root2, [root1])).toBe(false);
          continue;
        }

        const bad = (why: string, ...args: Parameters<typeof verifyConsistency>): void => {
          if (verifyConsistency(...args) !== false) accepted.push(`${why}: ${m} -> ${n}`);
          checked++;
        };
        for (let p = 0; p < proof.length; p++) bad(`bit flip in [${p}]`, m, n, root1, root2, flipBit(proof, p, 0x10));
        bad('truncated', m, n, root1, root2, proof.slice(0, -1));
        bad('empty', m, n, root1, root2, []);
        bad('extended', m, n, root1, root2, [...proof, root2]);
        bad('preceded', m, n, root1, root2, [proof[0] as Buffer, ...proof]);
        bad('swapped roots', m, n, root2, root1, proof);
        bad('wrong root1', m, n, roots[m - 1] as Buffer, root2, proof);
        bad('wrong root2', m, n, root1, roots[n - 1] as Buffer, proof);
        for (const m2 of [m - 1, m + 1, m ^ 2]) if (m2 !== m && m2 > 0) bad(`size1 ${m2}`, m2, n, root1, root2, proof);
        // As with inclusion, a proof can fit a neighbouring size's shape; what must fail is claiming a
        // size whose real root the proof does not reach, or a size the root cannot have.
        for (const n2 of [n * 2, Math.floor(n / 2)]) bad(`size2 ${n2}`, m, n2, root1, root2, proof);
        if (n + 1 <= N) bad(`size2 ${n + 1} with its root`, m, n + 1, root1, roots[n + 1] as Buffer, proof);
        for (const m2 of [m - 1, m + 1]) {
          if (m2 > 0 && m2 < n) bad(`size1 ${m2} with its root`, m2, n, roots[m2] as Buffer, root2, proof);
        }
        bad('time travel', n, m, root2, root1, proof);
      }
    }
    expect(accepted).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });

  test('the edge cases at size 0 and m = n', () => {
    const r = roots[5] as Buffer;
    expect(consistencyProof(0, 5, mth)).toEqual([]);
    expect(verifyConsistency(0, 5, emptyRoot(), r, [])).toBe(true);
    expect(verifyConsistency(0, 0, emptyRoot(), emptyRoot(), [])).toBe(true);
    expect(verifyConsistency(0, 5, r, r, [])).toBe(false);
    expect(verifyConsistency(0, 5, emptyRoot(), r, [r])).toBe(false);
    expect(verifyConsistency(5, 5, r, r, [])).toBe(true);
  });
});

describe('verifiers never throw on garbage', () => {
  const leaves = Array.from({ length: 8 }, (_, i) => leafHash(Buffer.from([i])));
  const { mth } = buildLog(leaves);
  const root = naiveRoot(leaves);
  const proof = inclusionProof(3, 8, mth);
  const cproof = consistencyProof(3, 8, mth);
  const root3 = naiveRoot(leaves.slice(0, 3));

  test('inclusion', () => {
    const leaf = leaves[3] as Buffer;
    expect(verifyInclusion(leaf, 3, 8, proof, root)).toBe(true);
    for (const [index, size] of [
      [8, 8],
      [9, 8],
      [0, 0],
      [-1, 8],
      [3.5, 8],
      [3, 8.5],
      [3, Number.NaN],
      [3, Infinity],
      [3, 2 ** 60],
    ]) {
      expect(verifyInclusion(leaf, index as number, size as number, proof, root), `${index}/${size}`).toBe(false);
    }
    expect(verifyInclusion(leaf.subarray(1), 3, 8, proof, root)).toBe(false);
    expect(verifyInclusion(leaf, 3, 8, proof, root.subarray(1))).toBe(false);
    expect(verifyInclusion(leaf, 3, 8, [...proof.slice(0, 2), Buffer.alloc(0)], root)).toBe(false);
    expect(
      verifyInclusion(leaf, 3, 8, [...proof.slice(0, 2), Buffer.concat([proof[2] as Buffer, Buffer.of(0)])], root),
    ).toBe(false);
    expect(rootFromInclusion(leaf, 3, 8, proof.slice(0, 2))).toBeNull();
    expect(verifyInclusion(leaf, 3, 8, null as unknown as Buffer[], root)).toBe(false);
    expect(verifyInclusion(null as unknown as Buffer, 3, 8, proof, root)).toBe(false);
  });

  test('consistency', () => {
    expect(verifyConsistency(3, 8, root3, root, cproof)).toBe(true);
    expect(verifyConsistency(9, 8, root3, root, cproof)).toBe(false);
    expect(verifyConsistency(-3, 8, root3, root, cproof)).toBe(false);
    expect(verifyConsistency(3, Number.NaN, root3, root, cproof)).toBe(false);
    expect(verifyConsistency(3, 8, root3.subarray(1), root, cproof)).toBe(false);
    expect(verifyConsistency(3, 8, root3, root, [...cproof.slice(1), Buffer.alloc(33)])).toBe(false);
    expect(verifyConsistency(3, 8, root3, root, 'proof' as unknown as Buffer[])).toBe(false);
    expect(verifyConsistency(3, 8, root3, undefined as unknown as Buffer, cproof)).toBe(false);
  });

  test('generators throw INVALID_INPUT instead', () => {
    for (const f of [
      () => inclusionProof(8, 8, mth),
      () => inclusionProof(-1, 8, mth),
      () => consistencyProof(9, 8, mth),
      () => consistencyProof(1.5, 8, mth),
    ]) {
      let caught: unknown;
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(isCairnError(caught, 'INVALID_INPUT')).toBe(true);
    }
  });
});

// Cost, not wall time (tests never time): a proof reads O(log n) range hashes, each built from
// O(log n) stored perfect nodes, so proofs stay fast however long the log grows.
describe('cost', () => {
  test('proofs over stored perfect nodes read O(log^2 n) nodes (2^17 distinct leaves, ragged edge)', () => {
    const n = 2 ** 17;
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    const { mth: inner } = buildLog(leaves);
    let calls = 0;
    const mth: RangeHasher = (s, e) => {
      calls++;
      return inner(s, e);
    };
    const size = n - 3; // not a power of two, so proofs include the ragged right edge
    const root = mth(0, size);
    const log2 = Math.ceil(Math.log2(size));
    for (let s = 0; s < 200; s++) {
      const index = (s * 7919) % size;
      calls = 0;
      const proof = inclusionProof(index, size, mth);
      const cproof = consistencyProof(index + 1, size, mth);
      expect(calls, `range hashes for the proofs of ${index}`).toBeLessThanOrEqual(4 * log2 + 4);
      expect(verifyInclusion(leaves[index] as Buffer, index, size, proof, root)).toBe(true);
      expect(verifyConsistency(index + 1, size, mth(0, index + 1), root, cproof)).toBe(true);
    }
  });

  test('an inclusion and a consistency proof in a 1,000,000-leaf log read O(log^2 n) stored nodes', () => {
    // Every leaf is the same record here, so each level has one perfect-node hash; proof
    // generation does exactly the lookups it would in a log of distinct leaves.
    const levels = [leafHash(Buffer.from('same'))];
    for (let level = 1; level <= 20; level++)
      levels.push(nodeHash(levels[level - 1] as Buffer, levels[level - 1] as Buffer));
    let lookups = 0;
    const lookup = (level: number, _index: number): Buffer => {
      lookups++;
      return levels[level] as Buffer;
    };
    const mth: RangeHasher = (s, e) => rangeHash(s, e, lookup);
    const size = 1_000_000;
    const root = mth(0, size);
    const leaf = levels[0] as Buffer;
    const log2 = Math.ceil(Math.log2(size));
    for (let s = 0; s < 200; s++) {
      const index = (s * 4_999) % size;
      lookups = 0;
      const proof = inclusionProof(index, size, mth);
      const cproof = consistencyProof(index + 1, size, mth);
      expect(lookups, `stored nodes read for the proofs of ${index}`).toBeLessThanOrEqual(4 * log2 * log2);
      if (s % 20 === 0) {
        expect(verifyInclusion(leaf, index, size, proof, root)).toBe(true);
        expect(verifyConsistency(index + 1, size, mth(0, index + 1), root, cproof)).toBe(true);
      }
    }
  });
});
