import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { removeTree } from '../storage/cache/read-only.js';

/** A fresh directory per test, removed afterwards (CAIRN_KEEP_TEST_DIRS=1 keeps them). */
export function useTempDirs(): () => string {
  const made: string[] = [];
  afterEach(() => {
    if (process.env.CAIRN_KEEP_TEST_DIRS) return;
    // removeTree: cached inputs are read-only folders, which a plain rm cannot empty (unless root).
    for (const d of made.splice(0)) removeTree(d);
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'cairn-test-'));
    made.push(d);
    return d;
  };
}
