// Issue 10, item 2: a killed checkout left a full-size, zero-tailed file under its final
// name (large files are pre-sized so several workers can fill them). Every file must appear
// under its final name only once it is complete and verified.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Hex as sha } from '../../src/core/digest.js';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const MiB = 1024 * 1024;

/** Starts a checkout and SIGKILLs it the moment `watch` exists (or when it ends by itself). */
async function killWhenSeen(cwd: string, args: string[], watch: string): Promise<'killed' | 'finished'> {
  const child = cliSpawn(args, { cwd });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  let done = false;
  void exited.then(() => (done = true));
  while (!done && !existsSync(watch)) await new Promise((r) => setImmediate(r));
  if (!done) child.kill('SIGKILL');
  return (await exited) ? 'killed' : 'finished';
}

describe('fault: SIGKILL during data checkout', () => {
  const tmp = useTempDirs();

  it(
    'a file appears under its final name only whole; the next checkout finishes and clears the leftovers',
    { timeout: 120_000 },
    async () => {
      const cwd = tmp();
      expect(cli(['init'], { cwd }).code).toBe(0);
      const files = { 'big.bin': prng(7, 40 * MiB), 'small.txt': Buffer.from('small\n') };
      writeTree(join(cwd, 'src'), files);
      expect(cli(['data', 'add', 'src', '--name', 'ds'], { cwd }).code).toBe(0);
      const out = join(cwd, 'out');
      const outcome = await killWhenSeen(
        cwd,
        ['data', 'checkout', 'ds', 'out', '--link', 'copy'],
        join(out, 'big.bin'),
      );
      if (existsSync(join(out, 'big.bin')))
        expect(sha(readFileSync(join(out, 'big.bin'))), `after the checkout was ${outcome}`).toBe(
          sha(files['big.bin']),
        );
      // A second checkout completes; what the killed one left behind is gone.
      const r = cli(['data', 'checkout', 'ds', 'out', '--link', 'copy', '--json'], { cwd });
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['big.bin', 'small.txt']);
      for (const [p, b] of Object.entries(files)) expect(sha(readFileSync(join(out, p))), p).toBe(sha(b));
    },
  );
});
