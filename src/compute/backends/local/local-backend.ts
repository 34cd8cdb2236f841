import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../../../core/errors.js';
import { acquireExclusive, type Lock } from '../../../storage/locks/locks.js';
import { packageRoot } from '../../../core/package-root.js';
import type { ComputeBackend, JobHandle, JobRequest, JobState, PolicyAction } from '../port.js';
import { detectGpus } from './gpus.js';
import {
  cancelFile,
  exitFile,
  jobFile,
  openLog,
  pidFile,
  policyFile,
  startFile,
  supervisorLogFile,
  type LocalExit,
  type LocalJob,
} from './job-files.js';

export interface LocalBackendOptions {
  /** Where job, pid and exit files live (`.cairn/compute/local`). */
  stateDir: string;
  /** GPU indexes this machine has; default: what nvidia-smi reports (none without it). */
  gpus?: number[];
  sampleIntervalMs?: number;
  /** Idle-GPU policy handed to each job (null: no policy). */
  idle?: LocalJob['idle'];
}

/**
 * Runs jobs as child processes of this machine, each under a detached supervisor
 * (supervisor.ts) so it survives the command that started it; state lives in files, so any
 * later `cairn` process can observe or cancel it.
 */
export class LocalBackend implements ComputeBackend {
  readonly name = 'local' as const;
  private readonly gpus: number[];

  constructor(private readonly opts: LocalBackendOptions) {
    this.gpus = opts.gpus ?? detectGpus();
    mkdirSync(opts.stateDir, { recursive: true });
  }

  /** GPU indexes held by jobs that have not ended. */
  busyGpus(): Set<number> {
    const busy = new Set<number>();
    for (const f of readdirSync(this.opts.stateDir)) {
      if (!f.endsWith('.job.json')) continue;
      const runId = f.slice(0, -'.job.json'.length);
      if (existsSync(exitFile(this.opts.stateDir, runId))) continue;
      try {
        for (const g of (JSON.parse(readFileSync(join(this.opts.stateDir, f), 'utf8')) as LocalJob).gpus) busy.add(g);
      } catch {
        /* a job file being written */
      }
    }
    return busy;
  }

  async submit(request: JobRequest): Promise<JobHandle> {
    // The free GPUs read and the job file that takes some of them, as one step among all the
    // processes of this machine: two dispatchers (two `run ls`, two server processes) that
    // started two runs at once each read the same GPU free and both jobs got it.
    const lock = allocationLock(this.opts.stateDir);
    try {
      // A run's job id is its run id: a job file here already is this run's job, started by a
      // dispatcher that died before recording it. That job is the run's; a second one would
      // take over its files (and run the command twice in one folder).
      if (existsSync(jobFile(this.opts.stateDir, request.runId)))
        return { backend: 'local', id: request.runId, adopted: true };
      this.allocate(request);
    } finally {
      lock.release();
    }
    const path = jobFile(this.opts.stateDir, request.runId);
    const script = join(packageRoot(), 'dist', 'bundle', 'job-supervisor.js');
    if (!existsSync(script)) throw new CairnError('INTERNAL', `${script} is missing: run \`npm run build\``);
    // The supervisor's own complaints (never the job's output) go to a file beside its job file.
    const log = openLog(supervisorLogFile(this.opts.stateDir, request.runId));
    const child = spawn(process.execPath, [script, path], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: request.cwd,
      // A server's job: its supervisor holds no server secret either (a job can read its parent's environ).
      ...(request.baseEnv ? { env: { ...request.baseEnv } } : {}),
    });
    closeSync(log);
    child.unref();
    return { backend: 'local', id: request.runId };
  }

  /** Takes the GPUs a job asks for (its job file names them), or says why it cannot: hold the allocation lock. */
  private allocate(request: JobRequest): void {
    const busy = this.busyGpus();
    const free = this.gpus.filter((g) => !busy.has(g));
    if (request.resources.gpus > this.gpus.length) {
      throw new CairnError(
        'INVALID_INPUT',
        `the job asks for ${request.resources.gpus} GPU(s); this machine has ${this.gpus.length}`,
        {
          data: { requested: request.resources.gpus, available: this.gpus.length },
          hint: this.gpus.length
            ? 'lower resources.gpus'
            : 'nvidia-smi finds no GPU here: run it on a GPU machine or through Slurm (--backend slurm)',
        },
      );
    }
    if (request.resources.gpus > free.length)
      throw new CairnError('LOCKED', `only ${free.length} of ${this.gpus.length} GPU(s) are free`, {
        data: { free: free.length },
      });
    const job: LocalJob = {
      request,
      gpus: free.slice(0, request.resources.gpus),
      sampleIntervalMs: this.opts.sampleIntervalMs ?? 1000,
      idle: request.idle ?? this.opts.idle ?? null,
    };
    // Whole or absent for a reader without the lock (status, the supervisor).
    const path = jobFile(this.opts.stateDir, request.runId);
    writeFileSync(`${path}.tmp-${process.pid}`, JSON.stringify(job));
    renameSync(`${path}.tmp-${process.pid}`, path);
  }

  async status(handles: readonly JobHandle[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    for (const h of handles) out.set(h.id, this.one(h.id));
    return out;
  }

  private one(runId: string): JobState {
    const dir = this.opts.stateDir;
    const base = { restarts: 0, nodes: 'localhost' };
    if (existsSync(exitFile(dir, runId))) {
      const e = JSON.parse(readFileSync(exitFile(dir, runId), 'utf8')) as LocalExit;
      return {
        ...base,
        state: e.state,
        exitCode: e.exitCode,
        reason: e.signal ? `signal ${e.signal}` : null,
        startedAt: e.startedAt,
        endedAt: e.endedAt,
        usage: {
          cpuSeconds: e.usage.cpuSeconds,
          maxRssKb: e.usage.maxRssKb,
          gpus: e.usage.gpus,
          elapsedS: e.usage.elapsedS,
        },
        ...(e.stoppedBy ? { stoppedBy: e.stoppedBy } : {}),
        policy: e.usage.policy,
      };
    }
    if (!existsSync(jobFile(dir, runId)))
      return { ...base, state: 'unknown', exitCode: null, reason: 'no such local job', startedAt: null, endedAt: null };
    const pid = existsSync(pidFile(dir, runId)) ? Number(readFileSync(pidFile(dir, runId), 'utf8').trim()) : null;
    const started = existsSync(startFile(dir, runId)) ? readFileSync(startFile(dir, runId), 'utf8').trim() : null;
    if (pid === null || (!started && alive(pid)))
      return { ...base, state: 'pending', exitCode: null, reason: 'starting', startedAt: null, endedAt: null };
    if (alive(pid))
      return {
        ...base,
        state: 'running',
        exitCode: null,
        reason: null,
        startedAt: started,
        endedAt: null,
        policy: this.policySoFar(runId),
      };
    // Re-check: the supervisor may have written the exit file between the two looks.
    if (existsSync(exitFile(dir, runId))) return this.one(runId);
    // Before this, a supervisor that died before it started the job left it pending for good.
    return {
      ...base,
      state: 'failed',
      exitCode: null,
      reason: `the job supervisor died${started ? '' : ' before it started the job'} (machine restarted or the process was killed)`,
      startedAt: started,
      endedAt: null,
    };
  }

  /** The idle-policy actions the supervisor has taken so far (written at each one). */
  private policySoFar(runId: string): PolicyAction[] {
    try {
      return JSON.parse(readFileSync(policyFile(this.opts.stateDir, runId), 'utf8')) as PolicyAction[];
    } catch {
      return []; // none yet (or being replaced: the next look sees it)
    }
  }

  /** Full details the supervisor recorded (usage with GPU samples and policy actions). */
  exitRecord(runId: string): LocalExit | null {
    const p = exitFile(this.opts.stateDir, runId);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as LocalExit) : null;
  }

  async cancel(h: JobHandle): Promise<void> {
    // First the request, then the signal: a supervisor that writes its pid file after this
    // looked for it checks the request before it starts the job (supervisor.ts), so a job
    // cancelled just after its submit never starts (before, the cancel found no pid and did nothing).
    if (!existsSync(exitFile(this.opts.stateDir, h.id))) writeFileSync(cancelFile(this.opts.stateDir, h.id), '');
    const p = pidFile(this.opts.stateDir, h.id);
    if (!existsSync(p)) return;
    const pid = Number(readFileSync(p, 'utf8').trim());
    if (alive(pid)) process.kill(pid, 'SIGTERM');
  }

  async capacity(): Promise<{ gpus: number; cpus: number; memoryMb: number }> {
    return { gpus: this.gpus.length, cpus: availableParallelism(), memoryMb: Math.floor(totalmem() / 1024 / 1024) };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid is not our supervisor.
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('job-supervisor');
  } catch {
    return true;
  }
}

/** How long a submit waits for another process's GPU allocation (a few file reads and one write). */
const ALLOCATION_WAIT_MS = 30_000;

/** The machine's GPU allocation lock (`<stateDir>/allocate/`); a dead holder's is taken over. */
function allocationLock(stateDir: string): Lock {
  const deadline = Date.now() + ALLOCATION_WAIT_MS;
  for (;;) {
    try {
      return acquireExclusive(join(stateDir, 'allocate'), 'local GPU allocation');
    } catch (err) {
      if (!(err instanceof CairnError && err.code === 'LOCKED')) throw err;
      if (Date.now() > deadline)
        throw new CairnError('LOCKED', "another process has been allocating this machine's GPUs for 30 s", {
          data: { free: 0 },
        });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
