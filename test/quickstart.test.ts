// The README's Quickstart, verbatim, as a new user runs it: an empty folder, `cairn` on the PATH
// (a link to bin/cairn.js, as `npm install -g cairn-ml` makes), every ```sh block of the section
// run in order in one bash with `set -euo pipefail`, so a line that fails fails the test. The S3
// block runs against a real s3rver on the port and bucket the README names; when that port is
// taken the block is skipped loudly (a failure with CAIRN_REQUIRE_SERVICES=1).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/package-root.js';
import { CLI } from '../src/test-support/cli.js';
import { startS3Server, type S3TestServer } from '../src/test-support/s3-server.js';
import { useTempDirs } from '../src/test-support/temp.js';

/** The ```sh blocks of the README section `## <title>`, in order. */
function shellBlocks(readme: string, title: string): string[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const rest = readme.slice(start + title.length + 5);
  const section = rest.slice(0, rest.search(/\n## /) >= 0 ? rest.search(/\n## /) : undefined);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('README Quickstart', () => {
  const tmp = useTempDirs();
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');

  it('names the publishable package and keeps the cairn command', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
      files: string[];
    };
    expect(pkg.name).toBe('cairn-ml');
    expect(pkg.bin).toEqual({ cairn: 'bin/cairn.js' });
    expect(pkg.files).toEqual(expect.arrayContaining(['sdk/python/cairn_helper/*.py', 'sdk/python/pyproject.toml']));
    expect(shellBlocks(readme, 'Install')[0]).toContain('npm install -g cairn-ml');
    expect(readme).not.toMatch(/npx cairn /);
  });

  it('runs every line verbatim in an empty folder', { timeout: 600_000 }, async () => {
    const blocks = shellBlocks(readme, 'Quickstart');
    expect(blocks.length).toBe(2);
    const [main, s3Block] = blocks as [string, string];
    const port = Number(/--endpoint http:\/\/127\.0\.0\.1:(\d+)/.exec(s3Block)?.[1]);
    const bucket = /s3:\/\/([a-z0-9-]+)\//.exec(s3Block)?.[1];
    let s3: S3TestServer | null = null;
    try {
      s3 = await startS3Server({ port, bucket: bucket! });
    } catch (err) {
      if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw err;
      process.stderr.write(
        `\n!!! SKIPPING the Quickstart's S3 block: s3rver could not start on port ${port} (${(err as Error).message})\n\n`,
      );
    }
    try {
      const root = tmp();
      const bin = join(root, 'bin');
      mkdirSync(bin);
      symlinkSync(CLI, join(bin, 'cairn'));
      const home = join(root, 'empty');
      mkdirSync(home);
      const script = ['set -euo pipefail', main, ...(s3 ? [s3Block] : [])].join('\n');
      const r = spawnSync('bash', ['-c', script], {
        cwd: home,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CAIRN_NO_PROGRESS: '1' },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.status !== 0) throw new Error(`the Quickstart failed (exit ${r.status}):\n${out.slice(-4000)}`);
      // What the README says each part shows, shown.
      expect(out).toMatch(/penguins@v1 {2}sha256:/);
      expect(out).toMatch(/rows by key id \(inferred\): 342 -> 343; 1 added, 0 removed, 0 changed/);
      expect(out).toMatch(/passed gate on penguins\/test@v1/);
      expect(out).toMatch(/model gentoo@v1 {2}sha256:[0-9a-f]{64}\n {2}← files runs\/gentoo@v1\n/);
      expect(out).toMatch(/ok: 14 file\(s\), provenance signature, OpenSSF Model Signing signature/);
      expect(out).toMatch(/ok: every object matches its digest/);
      if (s3) expect(out).toMatch(/cloned s3:\/\/cairn-quickstart\/penguins into/);
    } finally {
      await s3?.close();
    }
  });
});
