import { chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError, ioError } from '../../../core/errors.js';
import type { ComputeBackend, JobHandle, JobRequest, JobState } from '../port.js';
import { batchScript, sbatchArgs } from './batch-script.js';
import { runSlurm, slurmError } from './commands.js';
import type { CommandResult, SlurmCommandOptions } from './commands.js';
import { parseRunJobs, parseSacct, parseSinfo, parseSqueue, SACCT_FORMAT, SQUEUE_FORMAT } from './parse.js';
import type { RunJob } from './parse.js';

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
    const args = sbatchArgs(job, scriptPath, this.options);
    const as = this.submitter(job);
    // A held job is accepted whatever it asks for (Slurm checks a job against the nodes only once
    // it may start): asked first without --hold, so a job no node can take is refused here, with
    // sbatch's reason, instead of waiting forever once released.
    const check = await runSlurm('sbatch', ['--test-only', ...args.filter((a) => a !== '--hold')], as);
    if (check.code !== 0) throw slurmError('sbatch', check, 'INVALID_INPUT', `Slurm refused run ${job.runId}`);
    const res = await runSlurm('sbatch', args, as);
    if (res.code !== 0) throw slurmError('sbatch', res, 'INVALID_INPUT', `Slurm refused run ${job.runId}`);
    // --parsable prints "jobid" or "jobid;cluster".
    const id = res.stdout.trim().split(';')[0] ?? '';
    if (!JOB_ID.test(id))
      throw new CairnError(
        'INTERNAL',
        `sbatch accepted run ${job.runId} but printed no job id: ${JSON.stringify(res.stdout.trim())}`,
      );
    return this.settle(job.runId, id, job.runAs?.uid ?? process.getuid?.());
  }

  /**
   * At most one job per run, however many dispatchers submitted it: one that died (or stalled past
   * its claim) after sbatch and before recording the job id, and the one that took its claim over.
   * Every job is submitted held (`--hold`), and the run's job is the lowest-numbered one Slurm has
   * under the run's name: Slurm numbers jobs in the order it accepts them, so whichever submitter
   * came second sees the first one's job, withdraws its own before it ever ran, and adopts the
   * first (releasing it if its submitter died before doing so). The first submitter may not see the
   * second's job, but keeps its own either way: both end up naming the same job.
   */
  private async settle(runId: string, mine: string, uid: number | undefined): Promise<JobHandle> {
    let jobs: RunJob[];
    try {
      jobs = await this.jobsOfRun(runId, uid);
    } catch (err) {
      // Unchecked, it must not run: still held, so withdrawing it leaves nothing behind.
      await this.withdraw(mine);
      throw err;
    }
    const first = jobs[0];
    if (!first || Number(first.id) >= Number(mine.split('_')[0])) {
      await this.release(mine);
      return { backend: 'slurm', id: mine };
    }
    await this.withdraw(mine);
    if (first.held) await this.release(first.id);
    return { backend: 'slurm', id: first.id, adopted: true };
  }

  /**
   * The jobs of account `uid` (the job user's, else this process's) that Slurm holds or remembers
   * under run `runId`'s name, lowest id first.
   */
  private async jobsOfRun(runId: string, uid: number | undefined): Promise<RunJob[]> {
    const name = `--name=cairn-${runId}`;
    // Only that account's: anyone on the cluster may name a job cairn-<runId>, and adopting theirs
    // would hand them the run.
    const user = uid === undefined ? [] : [`--user=${uid}`];
    const q = await runSlurm('squeue', ['-h', '--states=all', name, ...user, '-o', '%i|%T|%r'], this.commands);
    if (q.code !== 0) throw slurmError('squeue', q, 'IO_ERROR', `could not list the Slurm jobs of run ${runId}`);
    const live = parseRunJobs(q.stdout);
    if (this.sacctWorks === false) return live;
    // Finished jobs slurmctld has forgotten (MinJobAge) are in accounting only. A run's jobs are
    // submitted after the run was made: its id (a UUIDv7) bounds the search, with a day for skew.
    const made = Number.parseInt(runId.replaceAll('-', '').slice(0, 12), 16);
    const since = Number.isFinite(made) && runId[14] === '7' ? isoLocal(made - 86_400_000) : 'now-365days';
    const args = ['-n', '-P', '-X', name, ...user, `--starttime=${since}`, '--format=JobIDRaw,State'];
    let a: CommandResult;
    try {
      a = await runSlurm('sacct', args, this.commands);
    } catch {
      return live;
    }
    if (a.code !== 0 && /accounting storage is disabled/i.test(a.stderr)) this.sacctWorks = false;
    if (a.code !== 0) return live;
    const byId = new Map(parseRunJobs(a.stdout).map((j) => [j.id, j]));
    for (const j of live) byId.set(j.id, j);
    return [...byId.values()].sort((x, y) => Number(x.id) - Number(y.id));
  }

  /** Lets a held job start; one that cannot be released is withdrawn (a held job left behind never runs). */
  private async release(id: string): Promise<void> {
    const res = await runSlurm('scontrol', ['release', id], this.commands);
    if (res.code === 0 || /not held|already/i.test(res.stderr)) return;
    await this.withdraw(id);
    throw slurmError('scontrol', res, 'IO_ERROR', `could not release Slurm job ${id}`);
  }

  /** Cancels a job that never ran (held), best effort: one left behind stays held, and never runs. */
  private async withdraw(id: string): Promise<void> {
    await runSlurm('scancel', [id], this.commands).catch(() => {});
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

/** A time as Slurm's clients read it: local time, YYYY-MM-DDTHH:MM:SS. */
function isoLocal(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
