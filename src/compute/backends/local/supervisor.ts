// The local backend's job supervisor: one detached Node process per job, so a job outlives the
// `cairn` command that started it (and a killed `cairn`). It runs the command in its own
// process group, enforces the time limit, turns a cancel (SIGTERM to the supervisor) into
// SIGTERM → grace period → SIGKILL for the whole group, samples CPU, memory and GPUs, applies
// the idle-GPU policy (each action also written to `<runId>.policy.json` at once), waits until
// every process of the group has exited (not only the shell), and finally writes
// `<runId>.exit.json` atomically. Entry point of dist/bundle/job-supervisor.js; its only
// argument is the job file.
import { spawn } from 'node:child_process';
import { closeSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
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
process.on('uncaughtException', (err) => {
  process.stderr.write(`cairn job supervisor: ${err.stack ?? String(err)}\n`);
  if (jobGroup !== null) {
    try {
      process.kill(-jobGroup, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  process.exit(70);
});

/** No process (not even a zombie) is left in the group. */
function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function main(): void {
  const jobPath = process.argv[2];
  if (!jobPath) throw new Error('usage: job-supervisor <job.json>');
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as LocalJob;
  const req = job.request;
  const stateDir = jobPath.slice(0, jobPath.lastIndexOf('/'));
  writeAtomic(pidFile(stateDir, req.runId), `${process.pid}\n`);
  const out = openLog(req.stdoutPath);
  const err = openLog(req.stderrPath);
  const startedAt = new Date();
  const env: NodeJS.ProcessEnv = { ...process.env, ...req.env };
  // Only the GPUs Cairn assigned; an empty list hides every GPU from CUDA.
  env.CUDA_VISIBLE_DEVICES = job.gpus.join(',');
  const child = spawn('/bin/sh', ['-c', req.command], {
    cwd: req.cwd,
    env,
    stdio: ['ignore', out, err],
    detached: true,
  });
  closeSync(out);
  closeSync(err);
  writeAtomic(startFile(stateDir, req.runId), `${startedAt.toISOString()}\n`);
  const pgid = child.pid!;
  jobGroup = pgid;
  const usage: LocalUsage = {
    elapsedS: 0,
    cpuSeconds: 0,
    maxRssKb: 0,
    gpus: job.gpus.length,
    gpu: job.gpus.length ? { available: true, samples: [] } : { available: false, reason: 'no GPU was assigned' },
    policy: [],
  };
  /** Why the job is being stopped, when that began before its command ended. */
  let stoppedBy: LocalExit['stoppedBy'] = null;
  let shellExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let terminating = false;
  let killedAt: number | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const cpuByPid = new Map<number, number>();
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      /* nobody left */
    }
  };
  // SIGTERM to the whole group, SIGKILL after the grace period: the grace holds for every
  // process of the job (the shell dies of the SIGTERM at once; a Python job's handler may need
  // the whole window to write its checkpoint).
  const terminate = () => {
    if (terminating) return;
    terminating = true;
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => {
      killedAt = Date.now();
      signalGroup('SIGKILL');
    }, req.gracePeriodS * 1000);
  };
  const stop = (why: NonNullable<LocalExit['stoppedBy']>) => {
    if (stoppedBy || shellExit) return;
    stoppedBy = why;
    terminate();
  };
  onStop = stop;
  if (stopBeforeStart) stop('cancel');
  const limit =
    req.resources.timeLimitS > 0 ? setTimeout(() => stop('timeout'), req.resources.timeLimitS * 1000) : null;

  const sampler = new GroupSampler(pgid);
  const sampleMemory = (full = false) => {
    const g = sampler.sample({ full });
    usage.maxRssKb = Math.max(usage.maxRssKb, g.rssKb, g.hwmKb);
    for (const [pid, cpu] of g.cpuByPid) cpuByPid.set(pid, Math.max(cpu, cpuByPid.get(pid) ?? 0));
    return g;
  };
  // Densely (every 10 ms, a walk down the process tree) during the first second, so a short
  // job's peak is seen; then at the interval, scanning all of /proc.
  let memoryTimer: NodeJS.Timeout | null = null;
  const memoryLoop = () => {
    const early = Date.now() - startedAt.getTime() < 1000;
    memoryTimer = setTimeout(
      () => {
        sampleMemory(!early);
        memoryLoop();
      },
      early ? 10 : job.sampleIntervalMs,
    );
  };

  let idleSince: { at: number; index: number } | null = null;
  const sampleGpusNow = () => {
    if (!job.gpus.length || !usage.gpu.available) return;
    const g = sampleGpus(job.gpus);
    if (!g) {
      usage.gpu = { available: false, reason: 'nvidia-smi is not available on this machine' };
      return;
    }
    const t = Math.round((Date.now() - startedAt.getTime()) / 1000);
    usage.gpu.samples.push({ t, util: g.map((x) => x.util), memMb: g.map((x) => x.memMb) });
    // No policy once the job is ending.
    if (!job.idle || !g.length || shellExit || stoppedBy) return;
    const idle = job.idle;
    if (!g.every((x) => x.util < idle.thresholdPct)) {
      idleSince = null;
      return;
    }
    idleSince ??= { at: Date.now(), index: usage.gpu.samples.length - 1 };
    if (Date.now() - idleSince.at < job.idle.windowS * 1000) return;
    const detail = `GPUs ${job.gpus.join(',')} under ${job.idle.thresholdPct}% for ${job.idle.windowS} s`;
    const samples = usage.gpu.samples.slice(Math.max(idleSince.index, usage.gpu.samples.length - 120));
    usage.policy.push({
      t: new Date().toISOString(),
      action: job.idle.action,
      detail,
      policy: { ...job.idle },
      samples,
    });
    // Visible while the job runs: the run service records each action as it appears.
    writeAtomic(policyFile(stateDir, req.runId), `${JSON.stringify(usage.policy)}\n`);
    if (job.idle.action === 'checkpoint') signalGroup('SIGUSR1');
    if (job.idle.action === 'stop') stop('idle');
    idleSince = null;
  };
  const gpuTimer = setInterval(sampleGpusNow, job.sampleIntervalMs);
  sampleMemory();
  memoryLoop();
  sampleGpusNow();

  const finish = () => {
    clearInterval(gpuTimer);
    if (memoryTimer) clearTimeout(memoryTimer);
    if (limit) clearTimeout(limit);
    if (killTimer) clearTimeout(killTimer);
    const endedAt = new Date();
    usage.elapsedS = (endedAt.getTime() - startedAt.getTime()) / 1000;
    // Exact for the processes the shell waited for; processes that outlived the shell were
    // re-parented away from us, so their last sampled CPU time stands in for them.
    usage.cpuSeconds = Math.max(
      childrenCpuSeconds(),
      [...cpuByPid.values()].reduce((a, b) => a + b, 0),
    );
    const { code, signal } = shellExit!;
    const state: LocalExit['state'] =
      stoppedBy === 'timeout' ? 'timeout' : stoppedBy ? 'cancelled' : code === 0 ? 'completed' : 'failed';
    const result: LocalExit = {
      state,
      exitCode: code,
      signal,
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      usage,
      stoppedBy,
    };
    writeAtomic(exitFile(stateDir, req.runId), `${JSON.stringify(result)}\n`);
    process.exit(0);
  };
  // The job has ended when no process of its group is left, not when the shell exits.
  const waitForGroup = () => {
    const g = groupGone(pgid) ? { alive: 0 } : sampleMemory(true);
    // After SIGKILL, a process stuck in the kernel (D state) gets a few seconds, not forever.
    if (g.alive === 0 || (killedAt !== null && Date.now() - killedAt > 5000)) return finish();
    setTimeout(waitForGroup, 50);
  };

  child.on('exit', (code, signal) => {
    shellExit = { code, signal };
    if (limit) clearTimeout(limit);
    // Processes the shell left behind must not outlive the job, but get the same grace.
    if (!groupGone(pgid) && sampleMemory(true).alive > 0) terminate();
    waitForGroup();
  });
}

main();
