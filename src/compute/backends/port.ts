/**
 * Where a run's job executes: the local machine (child processes) or a Slurm cluster. The
 * run service (src/compute/runs/) prepares everything the job needs — its directory, inputs
 * materialized read-only, environment — and hands the backend a JobRequest; the backend only
 * starts, observes and stops the job. Both backends pass the shared conformance suite
 * (conformance.case.ts).
 */
export interface JobRequest {
  /** Cairn's run id (a UUIDv7); also the job's name on the backend (`cairn-<runId>`). */
  runId: string;
  /** Shell command line, run with /bin/sh -c in `cwd`. */
  command: string;
  /** Absolute working directory (the code checkout). */
  cwd: string;
  /** Environment added to the job's (CAIRN_RUN_ID, CAIRN_OUTPUT_DIR, … and the spec's own). */
  env: Record<string, string>;
  /**
   * The environment the job starts from, under `env`. Absent (a workspace: the user's own), the
   * submitting process's. Given (a team server's jobs), exactly this: the server's own
   * environment (database, store and OIDC secrets) never reaches a contributor's job.
   */
  baseEnv?: Record<string, string>;
  /**
   * The OS account the job runs as (a team server's `--job-user`); absent: the account of the
   * process that submits it. The backend starts the job's processes, never its own bookkeeping
   * (the local supervisor), as this account, so the job cannot forge what is recorded about it.
   */
  runAs?: JobAccount;
  /**
   * With `runAs`, on the local backend: the job runs in its own PID and mount namespaces
   * (docs/SERVER.md "Each job in its own namespaces"): its own processes only, a private /tmp
   * and /dev/shm, and of each `hide` parent only its `keep` folder (another run's folder is not
   * there, even by name). `carry`: folders the job is told about that the private /tmp or
   * /dev/shm would otherwise cover. Slurm ignores it: its own plugins confine a job there.
   */
  isolate?: { carry: string[]; hide: Array<{ parent: string; keep: string }> };
  /** Where the job's stdout and stderr go (absolute paths; appended to on requeue). */
  stdoutPath: string;
  stderrPath: string;
  resources: {
    gpus: number;
    cpus: number;
    /** MiB; 0 = backend default. */
    memoryMb: number;
    /** Seconds; 0 = no limit. */
    timeLimitS: number;
  };
  slurm?: { account?: string; partition?: string; qos?: string };
  /** Seconds between SIGTERM and SIGKILL at cancel or the time limit (checkpoint window). */
  gracePeriodS: number;
  /** Requeue after a node failure (Slurm) instead of failing. */
  requeue: boolean;
  /** Idle-GPU policy, applied where the backend samples GPUs (local with nvidia-smi). */
  idle?: { thresholdPct: number; windowS: number; action: 'flag' | 'checkpoint' | 'stop' };
}

/** An OS account jobs run as, looked up by the composition root (app/job-user.ts). */
export interface JobAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export type JobStateName =
  /** Queued, not started (reason says why). */
  | 'pending'
  | 'running'
  /** Exited 0. */
  | 'completed'
  /** Exited non-zero or died on a signal it did not ask for. */
  | 'failed'
  | 'cancelled'
  /** Killed at its time limit. */
  | 'timeout'
  /** Its node failed and it was not requeued. */
  | 'node_fail'
  /** Unknown to the backend (e.g. Slurm forgot it). */
  | 'unknown';

export interface JobState {
  state: JobStateName;
  exitCode: number | null;
  /** Backend's words for why it waits or ended (e.g. Slurm's Reason: Resources, BeginTime, NodeFail). */
  reason: string | null;
  /** ISO times when known. */
  startedAt: string | null;
  endedAt: string | null;
  /** How many times the backend requeued it. */
  restarts: number;
  /** Node(s) it ran on, when known. */
  nodes: string | null;
  /** Resource accounting when the backend has it (Slurm sacct; local: measured by Cairn). */
  usage?: { cpuSeconds?: number; maxRssKb?: number; gpus?: number; elapsedS?: number };
  /** Who stopped it, where the backend knows (local): a cancel, the time limit, the idle-GPU policy. */
  stoppedBy?: 'cancel' | 'timeout' | 'idle';
  /** Idle-GPU policy actions taken so far, oldest first (local; while it runs and after). */
  policy?: PolicyAction[];
}

/** One action of the idle-GPU policy, with the samples that triggered it. */
export interface PolicyAction {
  /** ISO time it acted. */
  t: string;
  action: 'flag' | 'checkpoint' | 'stop';
  /** In words: `GPUs 0,1 under 5% for 600 s`. */
  detail: string;
  policy: { thresholdPct: number; windowS: number; action: 'flag' | 'checkpoint' | 'stop' };
  /** The GPU samples of the idle window (seconds since the job started; % and MiB per GPU), the last 120 at most. */
  samples: Array<{ t: number; util: number[]; memMb: number[] }>;
}

export interface JobHandle {
  backend: 'local' | 'slurm';
  /** The backend's own id: a PID-based id for local, the Slurm job id for Slurm. */
  id: string;
  /**
   * The backend already had this run's job (handed over by a dispatcher that died before it
   * recorded the id): this handle names that job, and nothing new was started.
   */
  adopted?: boolean;
}

export interface ComputeBackend {
  readonly name: 'local' | 'slurm';
  /** Starts or queues the job; returns once the backend has accepted it. */
  submit(job: JobRequest): Promise<JobHandle>;
  /** Current state of each job (one call for many, e.g. one squeue + one sacct). */
  status(handles: readonly JobHandle[]): Promise<Map<string, JobState>>;
  /** SIGTERM, then SIGKILL after the grace period; resolving once the request is accepted. */
  cancel(handle: JobHandle): Promise<void>;
  /** GPUs this backend can give (local: detected; Slurm: the partition's GRES), for planning. */
  capacity(): Promise<{ gpus: number; cpus: number; memoryMb: number }>;
}
