// The local backend's job supervisor: one detached Node process per job, so a job outlives the
// `cairn` command that started it (and a killed `cairn`). It runs the command in its own
// process group, enforces the time limit, turns a cancel (SIGTERM to the supervisor) into
// SIGTERM → grace period → SIGKILL for the whole group, samples CPU, memory and GPUs, applies
// the idle-GPU policy, and finally writes `<runId>.exit.json` atomically. Entry point of
// dist/bundle/job-supervisor.js; its only argument is the job file.
import { spawn } from 'node:child_process';
import { closeSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { exitFile, openLog, pidFile, startFile, type LocalExit, type LocalJob, type LocalUsage } from './job-files.js';
import { sampleGpus } from './gpus.js';
import { childrenCpuSeconds, sampleGroup } from './proc-sample.js';

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
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
  const child = spawn('/bin/sh', ['-c', req.command], { cwd: req.cwd, env, stdio: ['ignore', out, err], detached: true });
  closeSync(out);
  closeSync(err);
  writeAtomic(startFile(stateDir, req.runId), `${startedAt.toISOString()}\n`);
  const pgid = child.pid!;
  let ending: LocalExit['state'] | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const usage: LocalUsage = { elapsedS: 0, cpuSeconds: 0, maxRssKb: 0, gpus: job.gpus.length, gpu: job.gpus.length ? { available: true, samples: [] } : { available: false, reason: 'no GPU was assigned' }, policy: [] };

  const stop = (why: LocalExit['state']) => {
    if (ending) return;
    ending = why;
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    killTimer = setTimeout(() => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, req.gracePeriodS * 1000);
  };
  process.on('SIGTERM', () => stop('cancelled'));
  process.on('SIGINT', () => stop('cancelled'));
  const limit = req.resources.timeLimitS > 0 ? setTimeout(() => stop('timeout'), req.resources.timeLimitS * 1000) : null;

  let idleSince: number | null = null;
  const sample = () => {
    const s = sampleGroup(pgid);
    usage.maxRssKb = Math.max(usage.maxRssKb, s.rssKb);
    if (job.gpus.length && usage.gpu.available) {
      const g = sampleGpus(job.gpus);
      if (!g) {
        usage.gpu = { available: false, reason: 'nvidia-smi is not available on this machine' };
        return;
      }
      const t = Math.round((Date.now() - startedAt.getTime()) / 1000);
      usage.gpu.samples.push({ t, util: g.map((x) => x.util), memMb: g.map((x) => x.memMb) });
      if (job.idle && g.length) {
        const idle = g.every((x) => x.util < job.idle!.thresholdPct);
        idleSince = idle ? (idleSince ?? Date.now()) : null;
        if (idleSince !== null && Date.now() - idleSince >= job.idle.windowS * 1000) {
          const detail = `GPUs ${job.gpus.join(',')} under ${job.idle.thresholdPct}% for ${job.idle.windowS} s`;
          usage.policy.push({ t: new Date().toISOString(), action: job.idle.action, detail });
          if (job.idle.action === 'checkpoint') process.kill(-pgid, 'SIGUSR1');
          if (job.idle.action === 'stop') stop('cancelled');
          idleSince = null;
        }
      }
    }
  };
  const sampler = setInterval(sample, job.sampleIntervalMs);
  sample();

  child.on('exit', (code, signal) => {
    clearInterval(sampler);
    if (limit) clearTimeout(limit);
    if (killTimer) clearTimeout(killTimer);
    // Descendants the shell left behind must not outlive the job.
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* none left */
    }
    const endedAt = new Date();
    usage.elapsedS = (endedAt.getTime() - startedAt.getTime()) / 1000;
    usage.cpuSeconds = childrenCpuSeconds();
    const state: LocalExit['state'] = ending ?? (code === 0 ? 'completed' : 'failed');
    const result: LocalExit = { state, exitCode: code, signal, startedAt: startedAt.toISOString(), endedAt: endedAt.toISOString(), usage };
    writeAtomic(exitFile(stateDir, req.runId), `${JSON.stringify(result)}\n`);
    process.exit(0);
  });
}

main();
