import type { DatasetDeps } from '../../datasets/index.js';
import type { ComputeBackend, JobAccount } from '../backends/port.js';
import type { ComputeConfig } from '../config.js';
import type { BookkeepingDb } from '../../meta/read-db.js';

/**
 * What the run service needs from outside compute/, given by the composition root (app/): the
 * configuration it read, the backends it chose, and the paths jobs are told about. Nothing in
 * compute/ reads environment variables or config files itself.
 */
export interface ComputePorts {
  /** `.cairn/compute.json` as app/ read it (defaults when absent). */
  readonly config: ComputeConfig;
  /** Where inputs are materialized for jobs: compute.json's cache, else CAIRN_CACHE, else the workspace cache. */
  readonly inputCache: string;
  /** The backend called `name` (local or slurm); USAGE for any other name. */
  backend(name: string): Promise<ComputeBackend>;
  /** The SDKs shipped with Cairn, as a job finds them (PYTHONPATH, CAIRN_SDK_JS). */
  readonly sdk: { python: string; node: string; inheritedPythonPath?: string };
  /**
   * On a team server: the allowlisted environment every job starts from instead of the server
   * process's (JobRequest.baseEnv). Absent in a workspace: jobs inherit the user's environment.
   */
  readonly jobBaseEnv?: Record<string, string>;
  /**
   * A team server's `--job-user`: every job runs as this account, and its folders (run folder,
   * outputs, checkpoints) are made its own (docs/SERVER.md "Jobs run as their own account").
   */
  readonly jobUser?: JobAccount;
  /**
   * A team server's pool of job accounts (`--job-user a,b,…`): each job runs as one that no other
   * running job holds, leased for the run (job-accounts.ts). Set instead of `jobUser`.
   */
  readonly jobPool?: readonly JobAccount[];
  /**
   * Jobs of `jobUser`/`jobPool` on the local backend run in their own PID and mount namespaces
   * (JobRequest.isolate): app/ found that this kernel allows them at start.
   */
  readonly jobNamespaces?: boolean;
  /**
   * Where run folders and checkpoints live when not in the workspace (`.cairn/`): a server with
   * a job user keeps them outside its private data, where the job's account can reach them.
   */
  readonly jobsDir?: string;
  /** Set: no job may start here, for this reason (a root server without a job user). */
  readonly jobsRefused?: { message: string; hint: string };
}

export interface RunDeps extends DatasetDeps {
  cairnDir: string;
  compute: ComputePorts;
  /** A run's backend id and queue reason, metric points and offsets: bookkeeping, not audited state. */
  bookkeeping: BookkeepingDb;
}
