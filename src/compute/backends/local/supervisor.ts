// The local backend's job supervisor: one detached Node process per job, so a job outlives the
// `cairn` command that started it (and a killed `cairn`). It runs the command in its own
// process group, enforces the time limit, turns a cancel (SIGTERM to the supervisor) into
// SIGTERM → grace period → SIGKILL for the whole group, samples CPU, memory and GPUs, applies
// the idle-GPU policy (each action also written to `<runId>.policy.json` at once), waits until
// every process of the group has exited (not only the shell), and finally writes
// `<runId>.exit.json` atomically. Entry point of dist/bundle/job-supervisor.js; its only
// argument is the job file.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  cancelFile,
  exitFile,
  openLog,
  pidFile,
  policyFile,
  startFile,
  type LocalExit,
  type LocalJob,
  type LocalUsage,
} from './job-files.js';
import { sampleGpus } from './gpus.js';
import { childrenCpuSeconds, GroupSampler } from './proc-sample.js';
import { JOB_MARK, markedProcesses, signalEach } from './marked-processes.js';
import { namespacedJob } from './namespace.js';

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Set once the job has started; a cancel that arrives earlier waits for it. */
let onStop: ((why: 'cancel') => void) | null = null;
let stopBeforeStart = false;
// First thing: a SIGTERM must never find Node's default action (exit), or the job would be
// orphaned without its grace period and without an exit record.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (onStop) onStop('cancel');
    else stopBeforeStart = true;
  });
}

/** The job's process group once started: a supervisor that fails must not leave it running unwatched. */
let jobGroup: number | null = null;
/** The job's mark and account once started, to find processes that left its group (setsid). */
let jobMark: { token: string; uid: number } | null = null;
process.on('uncaughtException', (err) => {
  process.stderr.write(`cairn job supervisor: ${err.stack ?? String(err)}\n`);
  if (jobGroup !== null) {
    try {
      process.kill(-jobGroup, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (jobMark) signalEach(markedProcesses(jobMark.token, jobMark.uid, new Set([process.pid])), 'SIGKILL');
  process.exit(70);
});

/** Processes of the job outside its group: they started their own session (setsid) or group. */
function escaped(pgid: number): number[] {
  if (!jobMark) return [];
  return markedProcesses(jobMark.token, jobMark.uid, new Set([process.pid])).filter((pid) => groupOf(pid) !== pgid);
}

function groupOf(pid: number): number | null {
  try {
    // Field 5 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

/** No process (not even a zombie) is left in the group. */
function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

type ShellExit = { code: number | null; signal: NodeJS.Signals | null };

/** One job under watch: its timers, samples, idle-policy state and how it is being stopped. */
class Supervision {
  readonly usage: LocalUsage;
  /** Why the job is being stopped, when that began before its command ended. */
  #stoppedBy: LocalExit['stoppedBy'] = null;
  #shellExit: ShellExit | null = null;
  #terminating = false;
  #killedAt: number | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #limit: NodeJS.Timeout | null = null;
  #memoryTimer: NodeJS.Timeout | null = null;
  #gpuTimer: NodeJS.Timeout | null = null;
  #idleSince: { at: number; index: number } | null = null;
  readonly #cpuByPid = new Map<number, number>();
  readonly #sampler: GroupSampler;

  constructor(
    private readonly job: LocalJob,
    private readonly stateDir: string,
    private readonly pgid: number,
    private readonly startedAt: Date,
  ) {
    this.#sampler = new GroupSampler(pgid);
    this.usage = {
      elapsedS: 0,
      cpuSeconds: 0,
      maxRssKb: 0,
      gpus: job.gpus.length,
      gpu: job.gpus.length ? { available: true, samples: [] } : { available: false, reason: 'no GPU was assigned' },
      policy: [],
    };
  }

  #signalGroup(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pgid, sig);
    } catch {
      /* nobody left */
    }
    signalEach(escaped(this.pgid), sig);
  }

  // SIGTERM to the whole group, SIGKILL after the grace period: the grace holds for every
  // process of the job (the shell dies of the SIGTERM at once; a Python job's handler may need
  // the whole window to write its checkpoint).
  #terminate(): void {
    if (this.#terminating) return;
    this.#terminating = true;
    this.#signalGroup('SIGTERM');
    this.#killTimer = setTimeout(() => {
      this.#killedAt = Date.now();
      this.#signalGroup('SIGKILL');
    }, this.job.request.gracePeriodS * 1000);
  }

  stop(why: NonNullable<LocalExit['stoppedBy']>): void {
    if (this.#stoppedBy || this.#shellExit) return;
    this.#stoppedBy = why;
    this.#terminate();
  }

  /** Starts the time limit and the memory and GPU sampling. */
  start(): void {
    const limitS = this.job.request.resources.timeLimitS;
    this.#limit = limitS > 0 ? setTimeout(() => this.stop('timeout'), limitS * 1000) : null;
    this.#gpuTimer = setInterval(() => this.#sampleGpus(), this.job.sampleIntervalMs);
    this.#sampleMemory();
    this.#memoryLoop();
    this.#sampleGpus();
  }

  #sampleMemory(full = false) {
    const g = this.#sampler.sample({ full });
    this.usage.maxRssKb = Math.max(this.usage.maxRssKb, g.rssKb, g.hwmKb);
    for (const [pid, cpu] of g.cpuByPid) this.#cpuByPid.set(pid, Math.max(cpu, this.#cpuByPid.get(pid) ?? 0));
    return g;
  }

  // Densely (every 10 ms, a walk down the process tree) for the first 3 s, so a short job's
  // peak is seen even when a loaded machine takes a second to start it; then the gap grows by
  // half each time up to the interval (scanning all of /proc), so a peak held for a fraction of
  // the gap just after start-up is not skipped.
  #memoryLoop(gapMs = 10): void {
    const dense = Date.now() - this.startedAt.getTime() < 3000;
    const next = dense ? 10 : Math.min(this.job.sampleIntervalMs, Math.max(20, Math.round(gapMs * 1.5)));
    this.#memoryTimer = setTimeout(() => {
      this.#sampleMemory(!dense);
      this.#memoryLoop(next);
    }, next);
  }

  #sampleGpus(): void {
    const { job, usage } = this;
    if (!job.gpus.length || !usage.gpu.available) return;
    const g = sampleGpus(job.gpus);
    if (!g) {
      usage.gpu = { available: false, reason: 'nvidia-smi is not available on this machine' };
      return;
    }
    const t = Math.round((Date.now() - this.startedAt.getTime()) / 1000);
    usage.gpu.samples.push({ t, util: g.map((x) => x.util), memMb: g.map((x) => x.memMb) });
    // No policy once the job is ending.
    if (!job.idle || !g.length || this.#shellExit || this.#stoppedBy) return;
    if (!g.every((x) => x.util < job.idle!.thresholdPct)) {
      this.#idleSince = null;
      return;
    }
    this.#idleSince ??= { at: Date.now(), index: usage.gpu.samples.length - 1 };
    if (Date.now() - this.#idleSince.at < job.idle.windowS * 1000) return;
    this.#applyIdlePolicy(job.idle, usage.gpu.samples);
  }

  /** The GPUs stayed idle for the whole window: record the action, and signal or stop the job. */
  #applyIdlePolicy(
    idle: NonNullable<LocalJob['idle']>,
    all: Array<{ t: number; util: number[]; memMb: number[] }>,
  ): void {
    const detail = `GPUs ${this.job.gpus.join(',')} under ${idle.thresholdPct}% for ${idle.windowS} s`;
    const samples = all.slice(Math.max(this.#idleSince!.index, all.length - 120));
    this.usage.policy.push({ t: new Date().toISOString(), action: idle.action, detail, policy: { ...idle }, samples });
    // Visible while the job runs: the run service records each action as it appears.
    writeAtomic(policyFile(this.stateDir, this.job.request.runId), `${JSON.stringify(this.usage.policy)}\n`);
    if (idle.action === 'checkpoint') this.#signalGroup('SIGUSR1');
    if (idle.action === 'stop') this.stop('idle');
    this.#idleSince = null;
  }

  #finish(): void {
    if (this.#gpuTimer) clearInterval(this.#gpuTimer);
    if (this.#memoryTimer) clearTimeout(this.#memoryTimer);
    if (this.#limit) clearTimeout(this.#limit);
    if (this.#killTimer) clearTimeout(this.#killTimer);
    const endedAt = new Date();
    this.usage.elapsedS = (endedAt.getTime() - this.startedAt.getTime()) / 1000;
    // Exact for the processes the shell waited for; processes that outlived the shell were
    // re-parented away from us, so their last sampled CPU time stands in for them.
    this.usage.cpuSeconds = Math.max(
      childrenCpuSeconds(),
      [...this.#cpuByPid.values()].reduce((a, b) => a + b, 0),
    );
    const { code, signal } = this.#shellExit!;
    const stoppedBy = this.#stoppedBy;
    const state: LocalExit['state'] =
      stoppedBy === 'timeout' ? 'timeout' : stoppedBy ? 'cancelled' : code === 0 ? 'completed' : 'failed';
    const result: LocalExit = {
      state,
      exitCode: code,
      signal,
      startedAt: this.startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      usage: this.usage,
      stoppedBy,
    };
    writeAtomic(exitFile(this.stateDir, this.job.request.runId), `${JSON.stringify(result)}\n`);
    process.exit(0);
  }

  // The job has ended when no process of its group is left, not when the shell exits.
  #waitForGroup(): void {
    const g = groupGone(this.pgid) ? { alive: escaped(this.pgid).length } : this.#sampleMemory(true);
    // After SIGKILL, a process stuck in the kernel (D state) gets a few seconds, not forever.
    if (g.alive === 0 || (this.#killedAt !== null && Date.now() - this.#killedAt > 5000)) return this.#finish();
    setTimeout(() => this.#waitForGroup(), 50);
  }

  shellExited(exit: ShellExit): void {
    this.#shellExit = exit;
    if (this.#limit) clearTimeout(this.#limit);
    // Processes the shell left behind must not outlive the job, but get the same grace.
    // So must those that left the group (setsid): found by the job's mark, and signalled alike.
    if ((!groupGone(this.pgid) && this.#sampleMemory(true).alive > 0) || escaped(this.pgid).length > 0)
      this.#terminate();
    this.#waitForGroup();
  }
}

/** The exit record of a job cancelled before it started: nothing ran, nothing was used. */
function cancelledBeforeStart(job: LocalJob, stateDir: string): void {
  const now = new Date().toISOString();
  const result: LocalExit = {
    state: 'cancelled',
    exitCode: null,
    signal: null,
    startedAt: now,
    endedAt: now,
    usage: {
      elapsedS: 0,
      cpuSeconds: 0,
      maxRssKb: 0,
      gpus: job.gpus.length,
      gpu: { available: false, reason: 'the job was cancelled before it started' },
      policy: [],
    },
    stoppedBy: 'cancel',
  };
  writeAtomic(exitFile(stateDir, job.request.runId), `${JSON.stringify(result)}\n`);
  process.exit(0);
}

function main(): void {
  const jobPath = process.argv[2];
  if (!jobPath) throw new Error('usage: job-supervisor <job.json>');
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as LocalJob;
  const req = job.request;
  const stateDir = jobPath.slice(0, jobPath.lastIndexOf('/'));
  writeAtomic(pidFile(stateDir, req.runId), `${process.pid}\n`);
  // Cancelled before this supervisor ran (its pid file came after the canceller looked): the job never starts.
  if (existsSync(cancelFile(stateDir, req.runId))) return cancelledBeforeStart(job, stateDir);
  const out = openLog(req.stdoutPath);
  const err = openLog(req.stderrPath);
  const startedAt = new Date();
  const env: NodeJS.ProcessEnv = { ...(req.baseEnv ?? process.env), ...req.env };
  // Only the GPUs Cairn assigned; an empty list hides every GPU from CUDA.
  env.CUDA_VISIBLE_DEVICES = job.gpus.join(',');
  // Inherited by every process the job starts, also one that leaves its process group.
  const mark = randomBytes(16).toString('hex');
  env[JOB_MARK] = mark;
  // A server's job user: only the job drops to it. This supervisor stays the server's account, so
  // the job can neither signal nor trace it, nor rewrite the exit record and usage it keeps; and
  // as root it can still signal the job's group. Node clears supplementary groups (setgroups(0)).
  // In its own namespaces (req.isolate), the job's init starts as root to set them up and drops
  // to the account itself (namespace.ts); its processes still share this group.
  const ns = req.runAs && req.isolate ? namespacedJob(req, req.runAs, req.isolate, env) : null;
  const child = spawn(ns?.file ?? '/bin/sh', ns?.args ?? ['-c', req.command], {
    cwd: req.cwd,
    env: ns?.env ?? env,
    stdio: [ns ? 'pipe' : 'ignore', out, err],
    detached: true,
    ...(req.runAs && !ns ? { uid: req.runAs.uid, gid: req.runAs.gid } : {}),
  });
  // The namespaced job's environment, on the init's stdin (namespace.ts); a job that ended at
  // once closes the pipe before it is read, which is its own failure, not this process's.
  child.stdin?.on('error', () => {});
  if (ns) child.stdin!.end(ns.input);
  closeSync(out);
  closeSync(err);
  writeAtomic(startFile(stateDir, req.runId), `${startedAt.toISOString()}\n`);
  jobGroup = child.pid!;
  jobMark = { token: mark, uid: req.runAs?.uid ?? process.getuid!() };
  const watch = new Supervision(job, stateDir, child.pid!, startedAt);
  onStop = (why) => watch.stop(why);
  if (stopBeforeStart) watch.stop('cancel');
  watch.start();
  child.on('exit', (code, signal) => watch.shellExited({ code, signal }));
}

main();
