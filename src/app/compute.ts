import { homedir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import {
  LocalBackend,
  slurmBackend,
  type ComputeBackend,
  type ComputeConfig,
  type ComputePorts,
  type JobAccount,
  type RunDeps,
} from '../compute/index.js';
import type { ServerJobs } from './job-user.js';
import { loadComputeConfig } from './compute-config.js';
import type { Workspace } from './workspace.js';

/** Builds the backend called `name` from the workspace's compute configuration: where local/Slurm is chosen. */
export async function makeBackend(
  cairnDir: string,
  name: string,
  cfg: ComputeConfig,
  env?: NodeJS.ProcessEnv,
): Promise<ComputeBackend> {
  if (name === 'local')
    return new LocalBackend({
      stateDir: join(cairnDir, 'compute', 'local'),
      ...(cfg.localGpus ? { gpus: cfg.localGpus } : {}),
      sampleIntervalMs: cfg.sampleIntervalS * 1000,
    });
  // A job user's sbatch runs with no environment of the server's but the Slurm clients' own (SLURM_CONF, …).
  if (name === 'slurm') return slurmBackend({ ...cfg.slurm, ...(env ? { env } : {}) });
  throw new CairnError('USAGE', `unknown backend ${JSON.stringify(name)} (local or slurm)`);
}

/** What a server's job keeps of the server's environment: names, then name prefixes. */
const JOB_ENV_NAMES = new Set([
  'PATH',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'HOME',
  'USER',
  'LOGNAME',
  'LD_LIBRARY_PATH',
]);
const JOB_ENV_PREFIXES = ['LC_', 'CUDA_', 'NVIDIA_'];

/**
 * The environment a job started by a team server begins with (docs/SERVER.md "Jobs do not see
 * the server's environment"): locale, time zone, paths and the GPU stack's variables, never
 * the rest (database URL, store keys, OIDC secret, CAIRN_… settings). PATH and HOME always set.
 */
export function serverJobBaseEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && (JOB_ENV_NAMES.has(name) || JOB_ENV_PREFIXES.some((p) => name.startsWith(p))))
      base[name] = value;
  base.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  base.HOME ??= homedir();
  return base;
}

/** How a workspace's or server's jobs are started: see computePorts. */
export interface JobOptions {
  isolateJobs?: boolean;
  /** A team server's decision on its jobs' account and folders (app/job-user.ts). */
  jobs?: ServerJobs;
}

/**
 * The compute ports of a workspace: compute.json (read on first use), the input cache
 * (compute.json's `cache`, else CAIRN_CACHE, else the workspace cache, or the server's jobs
 * dir), one backend of each kind for the life of these ports, and the SDK paths jobs are told
 * about. `isolateJobs` (a team server): jobs start from serverJobBaseEnv(env), not from this
 * process's environment; with a job user, its own HOME, USER and LOGNAME.
 */
export function computePorts(
  ws: Pick<Workspace, 'cairnDir'>,
  env: NodeJS.ProcessEnv = process.env,
  opts: JobOptions = {},
): ComputePorts {
  const { jobUser, jobPool, jobsDir, jobsRefused, isolation } = opts.jobs ?? {};
  let config: ComputeConfig | null = null;
  const backends = new Map<string, Promise<ComputeBackend>>();
  const cfg = () => (config ??= loadComputeConfig(ws.cairnDir));
  return {
    get config() {
      return cfg();
    },
    get inputCache() {
      return cfg().cache ?? env.CAIRN_CACHE ?? join(jobsDir ?? ws.cairnDir, 'cache');
    },
    backend(name) {
      let b = backends.get(name);
      if (!b) {
        b = makeBackend(ws.cairnDir, name, cfg(), jobUser ? env : undefined);
        // A failed build (unknown name, bad config) is not kept: the next call says so again.
        b.catch(() => backends.delete(name));
        backends.set(name, b);
      }
      return b;
    },
    sdk: {
      python: join(packageRoot(), 'sdk', 'python'),
      node: join(packageRoot(), 'dist', 'sdk', 'index.js'),
      ...(env.PYTHONPATH ? { inheritedPythonPath: env.PYTHONPATH } : {}),
    },
    ...(opts.isolateJobs ? { jobBaseEnv: jobBase(env, jobUser) } : {}),
    ...(jobUser ? { jobUser } : {}),
    ...(jobPool ? { jobPool } : {}),
    ...(isolation?.namespaces ? { jobNamespaces: true } : {}),
    ...(jobsDir ? { jobsDir } : {}),
    ...(jobsRefused ? { jobsRefused } : {}),
  };
}

function jobBase(env: NodeJS.ProcessEnv, account: JobAccount | undefined): Record<string, string> {
  const base = serverJobBaseEnv(env);
  return account ? { ...base, HOME: account.home, USER: account.name, LOGNAME: account.name } : base;
}

/** A workspace with its compute ports: what the run service and in-process callers (tests, models/) take. */
export function runDeps<W extends Workspace>(
  ws: W,
  env: NodeJS.ProcessEnv = process.env,
  opts: JobOptions = {},
): W & RunDeps {
  return { ...ws, compute: computePorts(ws, env, opts), bookkeeping: ws.meta.db };
}
