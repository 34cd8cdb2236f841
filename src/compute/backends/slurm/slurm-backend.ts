import { chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError, ioError } from '../../../core/errors.js';
import type { ComputeBackend, JobHandle, JobRequest, JobState } from '../port.js';
import { batchScript, sbatchArgs } from './batch-script.js';
import { runSlurm, slurmError } from './commands.js';
import type { CommandResult, SlurmCommandOptions } from './commands.js';
import { parseSacct, parseSinfo, parseSqueue, SACCT_FORMAT, SQUEUE_FORMAT } from './parse.js';

export interface SlurmBackendOptions {
  /** Defaults for jobs that name none (JobRequest.slurm wins). */
  partition?: string;
  account?: string;
  qos?: string;
  /** Where sbatch, squeue, … live; unset: found on PATH. */
  binDir?: string;
  /** Environment of the Slurm clients (SLURM_CONF, …) and, through --export=ALL, the jobs' base. */
  env?: NodeJS.ProcessEnv;
  /**
   * How long status() may answer from its last squeue/sacct reading, in ms (default 0: always
   * ask). Worth a few seconds where many callers poll, since every squeue is an RPC to slurmctld.
   */
  pollIntervalMs?: number;
}

const JOB_ID = /^\d+(?:_\d+)?$/;

function unknownState(reason: string): JobState {
  return { state: 'unknown', exitCode: null, reason, startedAt: null, endedAt: null, restarts: 0, nodes: null };
}

/**
 * Runs jobs as Slurm batch jobs. Holds no state of its own: a fresh instance (Cairn restarted)
 * sees every job through squeue, and through sacct once slurmctld has forgotten it (MinJobAge)
 * where the cluster has accounting (slurmdbd).
 *
 * Signals: scancel makes Slurm send SIGTERM to every process of the job and SIGKILL KillWait
 * seconds later (a cluster setting; Slurm has no per-job kill wait), and the job is CANCELLED.
 * At the time limit the job gets SIGTERM gracePeriodS early (--signal=B:TERM@grace, forwarded
 * by the batch script to the command), then SIGTERM and, KillWait later, SIGKILL at the limit;
 * it is TIMEOUT.
 */
export class SlurmBackend implements ComputeBackend {
  readonly name = 'slurm' as const;
  private readonly commands: SlurmCommandOptions;
  /** undefined: not tried yet; false: this cluster has no accounting storage. */
  private sacctWorks: boolean | undefined;
  private readonly cache = new Map<string, { at: number; state: JobState }>();

  constructor(private readonly options: SlurmBackendOptions = {}) {
    this.commands = {
      ...(options.binDir ? { binDir: options.binDir } : {}),
      ...(options.env ? { env: options.env } : {}),
    };
  }

  async submit(job: JobRequest): Promise<JobHandle> {
    const dir = dirname(job.stdoutPath);
    const scriptPath = join(dir, `cairn-${job.runId}.sbatch`);
    const script = batchScript(job);
    try {
      await mkdir(dir, { recursive: true });
      await mkdir(dirname(job.stderrPath), { recursive: true });
      await writeFile(scriptPath, script, { mode: 0o700 });
      if (job.runAs) await chown(scriptPath, job.runAs.uid, job.runAs.gid);
    } catch (err) {
      throw ioError(err, 'write the batch script', scriptPath);
    }
    const res = await runSlurm('sbatch', sbatchArgs(job, scriptPath, this.options), this.submitter(job));
    if (res.code !== 0) throw slurmError('sbatch', res, 'INVALID_INPUT', `Slurm refused run ${job.runId}`);
    // --parsable prints "jobid" or "jobid;cluster".
    const id = res.stdout.trim().split(';')[0] ?? '';
    if (!JOB_ID.test(id))
      throw new CairnError(
        'INTERNAL',
        `sbatch accepted run ${job.runId} but printed no job id: ${JSON.stringify(res.stdout.trim())}`,
      );
    return { backend: 'slurm', id };
  }

  /**
   * Who runs sbatch: a job user's job is submitted as that account, so Slurm runs it (and
   * accounts it) as that account. Its sbatch gets no environment of the server's: a job of the
   * same account could read a running sbatch's environment (/proc/<pid>/environ), so it gets
   * the job's own base and the Slurm clients' SLURM_* settings only.
   */
  private submitter(job: JobRequest): SlurmCommandOptions {
    if (!job.runAs) return this.commands;
    const clientEnv = this.options.env ?? {};
    const slurmVars = Object.entries(clientEnv).filter(([k, v]) => k.startsWith('SLURM_') && v !== undefined);
    return {
      ...this.commands,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...job.baseEnv, ...Object.fromEntries(slurmVars) },
      uid: job.runAs.uid,
      gid: job.runAs.gid,
    };
  }

  async status(handles: readonly JobHandle[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    const now = Date.now();
    const reuseMs = this.options.pollIntervalMs ?? 0;
    for (const [id, hit] of this.cache) if (now - hit.at >= reuseMs) this.cache.delete(id);
    const ask: string[] = [];
    for (const h of handles) {
      if (h.backend !== 'slurm' || !JOB_ID.test(h.id)) {
        out.set(h.id, unknownState('not a Slurm job id'));
        continue;
      }
      const hit = this.cache.get(h.id);
      if (hit) out.set(h.id, hit.state);
      else if (!ask.includes(h.id)) ask.push(h.id);
    }
    if (ask.length === 0) return out;

    const live = await this.squeue(ask);
    // Jobs slurmctld no longer holds, and finished ones (for CPU time and MaxRSS), from sacct.
    const fromAccounting = ask.filter((id) => !live.has(id) || !['pending', 'running'].includes(live.get(id)!.state));
    const acct = fromAccounting.length > 0 ? await this.sacct(fromAccounting) : new Map<string, JobState>();
    for (const id of ask) {
      const q = live.get(id);
      const a = acct.get(id);
      // squeue is the fresher source (and knows restarts); sacct adds the usage it lacks.
      const state = q
        ? a
          ? { ...q, usage: { ...a.usage, ...q.usage } }
          : q
        : (a ?? unknownState('Slurm does not know this job (finished long ago, or another cluster)'));
      out.set(id, state);
      if (reuseMs > 0) this.cache.set(id, { at: now, state });
    }
    return out;
  }

  async cancel(handle: JobHandle): Promise<void> {
    if (handle.backend !== 'slurm' || !JOB_ID.test(handle.id))
      throw new CairnError('INVALID_INPUT', `${handle.backend} job ${handle.id} is not a Slurm job`);
    // Plain scancel: SIGTERM to all the job's processes, SIGKILL after KillWait, state
    // CANCELLED. (Signalling first and cancelling later would leave the state to whatever the
    // command exits with, and to Cairn staying alive for the grace period.)
    const res = await runSlurm('scancel', [handle.id], this.commands);
    this.cache.delete(handle.id);
    if (res.code === 0) return;
    // Ending anyway, or gone: nothing left to stop.
    if (/already completing or completed|Invalid job id specified/i.test(res.stderr)) return;
    throw slurmError('scancel', res, 'IO_ERROR', `could not cancel Slurm job ${handle.id}`);
  }

  /**
   * The biggest node of the partition (the named one, else the cluster's default) that is not
   * down or drained, since a Cairn job runs on one node: what one job can be given.
   */
  async capacity(): Promise<{ gpus: number; cpus: number; memoryMb: number }> {
    const res = await runSlurm('sinfo', ['-h', '-N', '-o', '%N|%P|%c|%m|%G|%t'], this.commands);
    if (res.code !== 0) throw slurmError('sinfo', res, 'IO_ERROR', 'could not read the Slurm partition');
    const all = parseSinfo(res.stdout);
    const partition = this.options.partition ?? all.find((n) => n.isDefault)?.partition;
    const nodes = all.filter(
      (n) =>
        n.partition === partition &&
        !/^(down|drain|drng|fail|maint|unk|boot|futr|inval)/.test(n.state.replace(/[*~#!%$@^-]+$/, '')),
    );
    const best = { gpus: 0, cpus: 0, memoryMb: 0 };
    for (const n of nodes) {
      best.gpus = Math.max(best.gpus, n.gpus);
      best.cpus = Math.max(best.cpus, n.cpus);
      best.memoryMb = Math.max(best.memoryMb, n.memoryMb);
    }
    return best;
  }

  private async squeue(ids: string[]): Promise<Map<string, JobState>> {
    const res = await runSlurm(
      'squeue',
      ['-h', '--states=all', `--jobs=${ids.join(',')}`, '-O', SQUEUE_FORMAT],
      this.commands,
    );
    // With a single id that slurmctld has forgotten squeue fails instead of printing nothing.
    if (res.code !== 0 && /Invalid job id specified/i.test(res.stderr)) return new Map();
    if (res.code !== 0) throw slurmError('squeue', res, 'IO_ERROR', 'could not read the Slurm queue');
    return parseSqueue(res.stdout);
  }

  private async sacct(ids: string[]): Promise<Map<string, JobState>> {
    if (this.sacctWorks === false) return new Map();
    let res: CommandResult;
    try {
      res = await runSlurm('sacct', ['-n', '-P', `--jobs=${ids.join(',')}`, `--format=${SACCT_FORMAT}`], this.commands);
    } catch {
      // No sacct binary: a cluster without accounting tools. squeue alone must do.
      this.sacctWorks = false;
      return new Map();
    }
    if (res.code !== 0) {
      // Without slurmdbd sacct says so and will say so forever; anything else may pass.
      if (/accounting storage is disabled/i.test(res.stderr)) this.sacctWorks = false;
      return new Map();
    }
    this.sacctWorks = true;
    return parseSacct(res.stdout);
  }
}
