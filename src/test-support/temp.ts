import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** A fresh directory per test, removed afterwards (CAIRN_KEEP_TEST_DIRS=1 keeps them). */
export function useTempDirs(): () => string {
  const made: string[] = [];
  afterEach(() => {
    if (process.env.CAIRN_KEEP_TEST_DIRS) return;
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'cairn-test-'));
    made.push(d);
    return d;
  };
}
