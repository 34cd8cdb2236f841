// scripts/checks.mjs skips the build when dist/ is newer than what it is built from: that check
// must never skip a build a developer's edit needs.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package-root.js';
import { useTempDirs } from '../../src/test-support/temp.js';

const mod = pathToFileURL(join(packageRoot(), 'scripts', 'build-current.mjs')).href;
const { buildIsCurrent, BUILD_INPUTS, BUILD_OUTPUTS } = (await import(mod)) as {
  buildIsCurrent: (root: string) => boolean;
  BUILD_INPUTS: string[];
  BUILD_OUTPUTS: string[];
};

describe('buildIsCurrent', () => {
  const tmp = useTempDirs();
  let root = '';
  /** Writes a file (and its folders) and sets its and its folder's mtime to `t` seconds. */
  const put = (rel: string, t: number) => {
    const f = join(root, rel);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, rel);
    utimesSync(f, t, t);
    utimesSync(dirname(f), t, t);
  };
  const age = (rel: string, t: number) => utimesSync(join(root, rel), t, t);

  beforeEach(() => {
    // A checkout at t=1000 whose build ran at t=2000 (tsc, bundle, UI bundle in that order).
    root = tmp();
    for (const f of ['src/cli/main.ts', 'src/a/b.ts', 'src/a/b.test.ts', 'ui/src/main.tsx']) put(f, 1000);
    for (const f of BUILD_INPUTS.filter((i) => i.includes('.'))) put(f, 1000);
    for (const d of ['src/a', 'src/cli', 'ui/src', 'ui', 'src', 'scripts', 'node_modules']) age(d, 1000);
    BUILD_OUTPUTS.forEach((f, i) => put(f, 2000 + i));
  });

  it('a fresh build is current', () => {
    expect(buildIsCurrent(root)).toBe(true);
  });

  it('any input edited after the build makes it stale, however deep', () => {
    for (const f of [...BUILD_INPUTS.filter((i) => i.includes('.')), 'src/a/b.ts', 'ui/src/main.tsx']) {
      age(f, 3000);
      expect(buildIsCurrent(root), f).toBe(false);
      age(f, 1000);
      expect(buildIsCurrent(root), f).toBe(true);
    }
  });

  it('a file added or removed (seen only in its folder) makes it stale', () => {
    rmSync(join(root, 'src/a/b.ts'));
    age('src/a', 3000);
    expect(buildIsCurrent(root)).toBe(false);
  });

  it('a missing output, or a step that failed after an edit, makes it stale', () => {
    for (const f of BUILD_OUTPUTS) {
      rmSync(join(root, f));
      expect(buildIsCurrent(root), f).toBe(false);
      put(f, 2500);
    }
    expect(buildIsCurrent(root)).toBe(true);
    // Edited at 2600; tsc ran at 2700, the bundle step then failed and left its older output.
    age('src/cli/main.ts', 2600);
    age('dist/cli/main.js', 2700);
    expect(buildIsCurrent(root)).toBe(false);
  });

  it('an edited test file needs no build (none is compiled into dist/)', () => {
    age('src/a/b.test.ts', 3000);
    expect(buildIsCurrent(root)).toBe(true);
  });
});
