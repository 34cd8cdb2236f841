import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { JobRequest, JobStateName, PolicyAction } from '../port.js';

/** What the local backend hands its supervisor (`<stateDir>/<runId>.job.json`). */
export interface LocalJob {
  request: JobRequest;
  /** GPU indexes given to the job (CUDA_VISIBLE_DEVICES). */
  gpus: number[];
  sampleIntervalMs: number;
  idle: { thresholdPct: number; windowS: number; action: 'flag' | 'checkpoint' | 'stop' } | null;
}

/** What the supervisor writes when the job has ended (`<runId>.exit.json`), atomically. */
export interface LocalExit {
  state: Extract<JobStateName, 'completed' | 'failed' | 'cancelled' | 'timeout'>;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  endedAt: string;
  usage: LocalUsage;
  /** Why the job was stopped before its command ended (null: it ended by itself). */
  stoppedBy: 'cancel' | 'timeout' | 'idle' | null;
}

export interface LocalUsage {
  elapsedS: number;
  cpuSeconds: number;
  /**
   * Peak resident memory of the job (KiB): the highest of the group's summed RSS at a sample
   * and any one process's own kernel-kept peak (VmHWM). Sampled densely in the first 3 s, then ever more sparsely up to the interval.
   */
  maxRssKb: number;
  gpus: number;
  /** GPU utilization samples, or why there are none (never invented). */
  gpu:
    | { available: true; samples: Array<{ t: number; util: number[]; memMb: number[] }> }
    | { available: false; reason: string };
  /** Idle-policy actions taken (flag, checkpoint signal, stop), with their samples. */
  policy: PolicyAction[];
}

export const jobFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.job.json`);
export const pidFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.pid`);
export const exitFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.exit.json`);
/**
 * A cancel asked for (`<runId>.cancel`), written before the supervisor is signalled: one that is
 * not running yet (no pid file) finds it before it starts the job, and does not start it.
 */
export const cancelFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.cancel`);
export const startFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.started`);
/** What the supervisor itself says when something goes wrong (never the job's output). */
export const supervisorLogFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.supervisor.log`);
/** The idle-policy actions so far, rewritten atomically at each one, so they show while the job runs. */
export const policyFile = (stateDir: string, runId: string) => join(stateDir, `${runId}.policy.json`);

/** Opens a run log for appending, created owner-only (0600): a job prints what it likes. */
export const openLog = (path: string): number => openSync(path, 'a', 0o600);
