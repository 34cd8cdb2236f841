// The real `cairn server start` in its own process, for the server benchmark suites.
import path from 'node:path';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Starts the server on a free loopback port and resolves with its URL.
 * CAIRN_BENCH_SERVER_NODE_ARGS: extra node flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export async function spawnServer({ repoRoot, dataDir, cwd, env = {}, extraNodeArgs = [] }) {
  const cli = path.join(repoRoot, 'bin', 'cairn.js');
  const nodeArgs = [...(process.env.CAIRN_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), ...extraNodeArgs];
  const child = spawn(
    process.execPath,
    [...nodeArgs, cli, 'server', 'start', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
    { ...(cwd ? { cwd } : {}), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (b) => {
      out += b;
      const m = /Cairn server on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.stderr.on('data', (b) => (out += b));
    child.once('exit', (code) => reject(new Error(`cairn server start exited ${code}: ${out}`)));
  });
  return { child, url };
}

/** A process's peak resident memory (VmHWM) in MiB, or null once it is gone. */
export function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export async function stop(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}
