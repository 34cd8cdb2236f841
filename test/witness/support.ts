// Witnesses as separate `cairn witness serve` processes, the way an operator runs them.
import { cliSpawn } from '../../src/test-support/cli.js';

export type Child = ReturnType<typeof cliSpawn>;

export interface RunningWitness {
  child: Child;
  url: string;
  vkey: string;
  name: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts a witness on a free loopback port (or `listen`) and resolves once it listens. */
export async function startWitness(
  cwd: string,
  dataDir: string,
  opts: { name?: string; listen?: string } = {},
): Promise<RunningWitness> {
  const args = ['witness', 'serve', '--data-dir', dataDir, '--listen', opts.listen ?? '127.0.0.1:0', '--json'];
  if (opts.name) args.push('--name', opts.name);
  const child = cliSpawn(args, { cwd });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const info = await new Promise<{ url: string; vkey: string; name: string }>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      let info: { url?: string; vkey: string; name: string } | null = null;
      try {
        info = JSON.parse(out) as { url?: string; vkey: string; name: string };
      } catch {
        return; // not all of it yet
      }
      if (typeof info.url === 'string') resolve(info as { url: string; vkey: string; name: string });
      else reject(new Error(`witness did not start: ${out}`));
    });
    child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${out}${err}`)));
  });
  return {
    child,
    ...info,
    dataDir,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
