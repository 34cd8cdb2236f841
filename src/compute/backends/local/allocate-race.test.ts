import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../../core/package-root.js';
import { useTempDirs } from '../../../test-support/temp.js';
import { exitFile, type LocalJob } from './job-files.js';
import { LocalBackend } from './local-backend.js';

// One process per submit, each holding back until the same instant: what two `run ls` (or two
// server processes) that dispatch two runs at once do on one machine. The jobs outlive every
// submit (a job that ended frees its GPU, so a late submit on a loaded machine could rightly
// reuse it) and are cancelled after the check.
const CHILD = `
const [mod, stateDir, dir, id, at] = process.argv.slice(1);
const { LocalBackend } = await import(mod);
const b = new LocalBackend({ stateDir, gpus: [0, 1, 2, 3, 4, 5, 6, 7] });
const wait = Number(at) - Date.now() - 20;
if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
while (Date.now() < Number(at)) {}
await b.submit({ runId: id, command: 'sleep 120', cwd: dir, env: {}, stdoutPath: dir + '/o', stderrPath: dir + '/e',
  resources: { gpus: 1, cpus: 1, memoryMb: 0, timeLimitS: 0 }, gracePeriodS: 1, requeue: false });
`;

describe('local backend: GPUs allocated by concurrent processes', () => {
  const tmp = useTempDirs();

  it('no GPU is given to two jobs that run at once', { timeout: 120_000 }, async () => {
    const mod = pathToFileURL(join(packageRoot(), 'dist', 'compute', 'backends', 'local', 'local-backend.js')).href;
    for (let round = 0; round < 8; round++) {
      const root = tmp();
      const stateDir = join(root, 'state');
      const at = Date.now() + 2500;
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => {
          const dir = join(root, `job-${i}`);
          mkdirSync(dir, { recursive: true });
          const p = spawn(
            process.execPath,
            ['--input-type=module', '-e', CHILD, mod, stateDir, dir, `r${i}`, String(at)],
            {
              stdio: ['ignore', 'ignore', 'pipe'],
            },
          );
          let err = '';
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          return new Promise<void>((resolve, reject) =>
            p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`submit exited ${code}: ${err}`)))),
          );
        }),
      );
      const gpus = readdirSync(stateDir)
        .filter((f) => f.endsWith('.job.json'))
        .flatMap((f) => (JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as LocalJob).gpus)
        .sort();
      const b = new LocalBackend({ stateDir, gpus: [0, 1, 2, 3, 4, 5, 6, 7] });
      for (let i = 0; i < 6; i++) await b.cancel({ backend: 'local', id: `r${i}` });
      for (let i = 0; i < 6 && Date.now() < at + 30_000;)
        if (existsSync(exitFile(stateDir, `r${i}`))) i++;
        else await new Promise((r) => setTimeout(r, 50));
      expect(gpus, `round ${round}: a GPU given twice`).toEqual([...new Set(gpus)]);
      expect(gpus).toHaveLength(6);
    }
  });
});
