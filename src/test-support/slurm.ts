import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What scripts/start-slurm.sh writes to <dir>/env.json. */
export interface SlurmFacts {
  partition: string;
  /** The one node's name (`hostname -s`, or localhost). */
  node: string;
  /** Fake GPUs declared as GRES `gpu` on the node. */
  gpus: number;
  cpus: number;
  memoryMb: number;
  /** The slurm.conf the daemons use; clients need SLURM_CONF set to it. */
  conf: string;
  dir: string;
  gpuDir: string;
  /** The cluster's KillWait: the grace between SIGTERM and SIGKILL at scancel. */
  killWaitS: number;
  jobCompLog: string;
}

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'start-slurm.sh');

let facts: SlurmFacts | null | undefined;
let failure: Error | undefined;

/**
 * The one-node Slurm cluster on this machine that the Slurm backend tests submit to, started
 * (and, on Debian, installed) by scripts/start-slurm.sh once per test process. When it cannot
 * be started the tests skip with a loud message, unless CAIRN_REQUIRE_SERVICES=1 (set by
 * .ci/run), which turns the skip into a failure.
 */
export function slurmFacts(): SlurmFacts | null {
  if (failure) throw failure;
  if (facts !== undefined) return facts;
  const dir = process.env.CAIRN_SLURM_DIR ?? '/tmp/cairn-slurm';
  // The first run installs slurm-wlm and munge with apt-get, hence the generous limit.
  const res = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, CAIRN_SLURM_DIR: dir },
  });
  let why: string | null = null;
  if (res.error) why = res.error.message;
  else if (res.status !== 0)
    why = `exit ${res.status ?? res.signal}: ${(res.stderr || res.stdout).trim().split('\n').slice(-5).join(' | ')}`;
  if (why === null) {
    try {
      facts = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as SlurmFacts;
      return facts;
    } catch (err) {
      why = `cannot read ${join(dir, 'env.json')}: ${(err as Error).message}`;
    }
  }
  if (process.env.CAIRN_REQUIRE_SERVICES === '1') {
    failure = new Error(`Slurm is required (CAIRN_REQUIRE_SERVICES=1) but scripts/start-slurm.sh failed: ${why}`);
    throw failure;
  }
  process.stderr.write(
    `\n!!! SKIPPING Slurm tests: scripts/start-slurm.sh could not start a Slurm cluster (${why}). Set CAIRN_REQUIRE_SERVICES=1 to fail instead.\n\n`,
  );
  facts = null;
  return facts;
}

/** Environment for Slurm clients (sbatch, squeue, …) talking to the test cluster. */
export function slurmEnv(f: SlurmFacts): NodeJS.ProcessEnv {
  return { ...process.env, SLURM_CONF: f.conf };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The live process holding the cluster alone, if any (a lock whose pid is not written yet counts as live). */
function exclusiveHolder(f: SlurmFacts): number | 'starting' | null {
  const lock = join(f.dir, 'tests.lock');
  let pid: number | null = null;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8')) || null;
  } catch {
    try {
      readdirSync(lock);
      return 'starting';
    } catch {
      return null;
    }
  }
  return pid !== null && alive(pid) ? pid : null;
}

/** Live shared holders' files; those of dead processes are removed. */
function sharedHolders(f: SlurmFacts): string[] {
  const dir = join(f.dir, 'tests.shared');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => {
    if (alive(Number(n.split('-')[0]))) return true;
    rmSync(join(dir, n), { force: true });
    return false;
  });
}

/**
 * Takes the test cluster alone until the returned function is called: the cluster has one node
 * and some tests fail it on purpose (state=down kills every job on it) or fill it to see why a
 * job waits, so no other test (another file of this run, or another session's) may have a job on
 * it meanwhile. Waits for holders of `shareSlurmCluster` to finish; new ones wait for this one.
 * A lock left by a dead process is taken over.
 */
export async function lockSlurmCluster(f: SlurmFacts, timeoutMs = 600_000): Promise<() => void> {
  const lock = join(f.dir, 'tests.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = exclusiveHolder(f);
    if (holder === null) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`the Slurm test cluster is still locked by pid ${holder} after ${timeoutMs} ms (${lock})`);
    await sleep(1000);
  }
  const release = () => rmSync(lock, { recursive: true, force: true });
  // Shared holders check for this lock after announcing themselves, so once none is left none
  // can start until release.
  while (sharedHolders(f).length > 0) {
    if (Date.now() > deadline) {
      release();
      throw new Error(
        `Slurm tests of pids ${sharedHolders(f).join(', ')} still hold the cluster after ${timeoutMs} ms`,
      );
    }
    await sleep(500);
  }
  return release;
}

/**
 * Uses the test cluster beside other sharers (jobs that neither fail the node nor depend on which
 * other jobs wait) until the returned function is called; waits while a test holds it alone.
 */
export async function shareSlurmCluster(f: SlurmFacts, timeoutMs = 600_000): Promise<() => void> {
  const dir = join(f.dir, 'tests.shared');
  mkdirSync(dir, { recursive: true });
  const mine = join(dir, `${process.pid}-${randomUUID()}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    writeFileSync(mine, '');
    const holder = exclusiveHolder(f);
    if (holder === null) return () => rmSync(mine, { force: true });
    rmSync(mine, { force: true });
    if (Date.now() > deadline)
      throw new Error(`the Slurm test cluster is still held alone by pid ${holder} after ${timeoutMs} ms`);
    await sleep(1000);
  }
}

/** Runs `fn` (a test's Slurm submissions) while sharing the test cluster. */
export async function sharingSlurm<T>(f: SlurmFacts, fn: () => T | Promise<T>): Promise<T> {
  const release = await shareSlurmCluster(f);
  try {
    return await fn();
  } finally {
    release();
  }
}
