// The examples, as a user runs them: a fresh copy of the folder, `cairn` on the PATH,
// ./prepare.sh, then `cairn run` — locally, and through the Slurm cluster when one is up.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package-root.js';
import { CLI } from '../../src/test-support/cli.js';
import { sharingSlurm, slurmFacts } from '../../src/test-support/slurm.js';
import { useTempDirs } from '../../src/test-support/temp.js';

interface RunJson {
  id: string;
  status: string;
  backend: string;
  output: string | null;
  metrics: Array<{ name: string; last: number; points: number }>;
}

describe('examples', () => {
  const tmp = useTempDirs();
  const setup = (name: string) => {
    const root = tmp();
    const bin = join(root, 'bin');
    mkdirSync(bin);
    symlinkSync(CLI, join(bin, 'cairn'));
    const dir = join(root, name);
    cpSync(join(packageRoot(), 'examples', name), dir, { recursive: true });
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      CAIRN_ACTOR: 'example@cairn.example',
      CAIRN_NO_PROGRESS: '1',
    };
    const sh = (cmd: string[]) =>
      spawnSync(cmd[0]!, cmd.slice(1), {
        cwd: dir,
        env,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      });
    const prep = sh(['./prepare.sh']);
    expect(prep.status, `${prep.stdout}\n${prep.stderr}`).toBe(0);
    const run = (args: string[] = []) => {
      const r = sh([join(bin, 'cairn'), 'run', ...args, '--json']);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout) as RunJson;
    };
    return { run };
  };
  const metric = (r: RunJson, name: string) => r.metrics.find((m) => m.name === name)!;

  it(
    'spam-python: a numpy classifier on the redacted, stratified split; then a cache hit',
    { timeout: 600_000 },
    async () => {
      const { run } = setup('spam-python');
      const r = run(['--set', 'params.epochs=12']);
      expect([r.status, r.backend, r.output]).toEqual(['completed', 'local', 'runs/spam-logreg@v1']);
      expect(metric(r, 'test_accuracy').points).toBe(12);
      expect(metric(r, 'test_accuracy').last).toBeGreaterThan(0.9);
      expect(run(['--set', 'params.epochs=12']).status).toBe('reused');
      const f = slurmFacts();
      if (!f) return;
      const s = await sharingSlurm(f, () => run(['--set', 'params.epochs=12', '--backend', 'slurm', '--force']));
      expect([s.status, s.backend]).toEqual(['completed', 'slurm']);
      expect(metric(s, 'test_accuracy').last).toBeGreaterThan(0.9);
    },
  );

  it(
    'flights-ts: a TypeScript regression of flight delays on the cleaned, split flights',
    { timeout: 600_000 },
    async () => {
      const { run } = setup('flights-ts');
      const r = run(['--set', 'params.epochs=3', '--set', 'params.rows=100000']);
      expect([r.status, r.output]).toEqual(['completed', 'runs/flight-delays@v1']);
      expect(metric(r, 'test_rmse').points).toBe(3);
      // delays are minutes: a linear model lands near the spread of the data, far from 0 or ∞
      expect(metric(r, 'test_rmse').last).toBeGreaterThan(5);
      expect(metric(r, 'test_rmse').last).toBeLessThan(100);
      const f = slurmFacts();
      if (!f) return;
      const s = await sharingSlurm(f, () =>
        run(['--set', 'params.epochs=3', '--set', 'params.rows=100000', '--backend', 'slurm', '--force']),
      );
      expect([s.status, s.backend]).toEqual(['completed', 'slurm']);
    },
  );
});
