// `pip install ./sdk/python` as a user does it: a fresh virtual environment, the package
// installed from a copy of the folder (no build litter in the repository), then used from a
// folder that is not on PYTHONPATH, outside any run: typed (py.typed installed), read_table on
// a CSV version, metrics in the local file.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../core/package-root.js';
import { useTempDirs } from '../test-support/temp.js';

const PYTHON = '/usr/bin/python3';

describe.skipIf(!existsSync(PYTHON))('pip install ./sdk/python', () => {
  const tmp = useTempDirs();

  it('installs a typed package that works outside cairn run', { timeout: 300_000 }, () => {
    const root = tmp();
    const src = join(root, 'python');
    cpSync(join(packageRoot(), 'sdk', 'python'), src, {
      recursive: true,
      filter: (p) => !/(build|egg-info|__pycache__)$/.test(p),
    });
    const venv = join(root, 'venv');
    const mk = spawnSync(PYTHON, ['-m', 'venv', venv], { encoding: 'utf8' });
    if (mk.status !== 0) {
      if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error(`python3 -m venv failed: ${mk.stderr}`);
      process.stderr.write(`\n!!! SKIPPING pip install test: python3 -m venv failed (${mk.stderr.trim()})\n\n`);
      return;
    }
    const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', '-q', src], { encoding: 'utf8', cwd: root });
    if (pip.status !== 0 && /Could not find a version|No matching distribution/.test(pip.stderr)) {
      if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error(`pip could not reach an index: ${pip.stderr}`);
      process.stderr.write(`\n!!! SKIPPING pip install test: no package index for setuptools\n\n`);
      return;
    }
    expect(pip.stderr).not.toMatch(/ERROR/);
    expect(pip.status).toBe(0);
    const work = join(root, 'work');
    mkdirSync(join(work, 'v'), { recursive: true });
    writeFileSync(join(work, 'v', 'data.csv'), 'x,y\n1,0\n2,1\n');
    const r = spawnSync(
      join(venv, 'bin', 'python'),
      [
        '-c',
        `
import os, json, cairn_helper as c
assert os.path.exists(os.path.join(os.path.dirname(c.__file__), "py.typed"))
rows = c.read_table("v")
c.log_metric("rows", len(rows))
print(json.dumps({"rows": rows, "file": c.local_metrics_file(), "where": c.__file__}))
`,
      ],
      { cwd: work, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: unknown; file: string; where: string };
    expect(out.where).toContain(join(venv, 'lib'));
    expect(out.rows).toEqual([
      { x: '1', y: '0' },
      { x: '2', y: '1' },
    ]);
    expect(readFileSync(out.file, 'utf8')).toMatch(
      /^\{"kind":"metric","name":"rows","value":2\.0,"step":null,"time":"[^"]+"\}\n$/,
    );
  });
});
