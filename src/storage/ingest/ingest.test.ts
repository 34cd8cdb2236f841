import { describe, expect, it } from 'vitest';
import { planHashing } from './ingest.js';
import type { ScannedFile } from './scan.js';

const file = (path: string, size: number): ScannedFile =>
  ({ path, abs: `/src/${path}`, size, mode: '644', ino: 1, mtimeMs: 0, ctimeMs: 0 }) as ScannedFile;

describe('planHashing', () => {
  it('puts empty files aside, batches files of up to one chunk and streams the rest', () => {
    const plan = planHashing([file('e', 0), file('a', 10), file('b', 100), file('big', 101), file('c', 1)], 100);
    expect(plan.empty.map((f) => f.path)).toEqual(['e']);
    expect(plan.small.map((b) => b.map((f) => f.path))).toEqual([['a', 'b', 'c']]);
    expect(plan.large.map((f) => f.path)).toEqual(['big']);
  });

  it('closes a batch at 512 files', () => {
    const files = Array.from({ length: 1025 }, (_, i) => file(`f${i}`, 1));
    const plan = planHashing(files, 100);
    expect(plan.small.map((b) => b.length)).toEqual([512, 512, 1]);
    expect(plan.small.flat()).toHaveLength(1025);
  });

  it('closes a batch before it would pass 8 MiB', () => {
    const mib = 1024 * 1024;
    const plan = planHashing([file('a', 5 * mib), file('b', 4 * mib), file('c', 3 * mib)], 8 * mib);
    expect(plan.small.map((b) => b.map((f) => f.path))).toEqual([['a'], ['b', 'c']]);
  });
});
