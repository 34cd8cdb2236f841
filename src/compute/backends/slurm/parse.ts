import type { JobState, JobStateName } from '../port.js';

/**
 * Slurm's answers (squeue -O, sacct -P, sinfo -o) turned into port types. Pure functions, so
 * the odd corners (raw wait statuses, "N/A" times, GRES strings) are tested without a cluster.
 */

/** squeue --Format fields, in order; `:|` = no width limit, `|` after each value. */
export const SQUEUE_FIELDS = [
  'JobID',
  'State',
  'Reason',
  'exit_code',
  'restartcnt',
  'StartTime',
  'EndTime',
  'NodeList',
  'TimeUsed',
  'tres-alloc',
  'tres-per-node',
  'tres-per-job',
] as const;
export const SQUEUE_FORMAT = SQUEUE_FIELDS.map((f) => `${f}:|`).join(',');

/** sacct --format fields, in order (parsable output, `|`-separated). */
export const SACCT_FIELDS = [
  'JobIDRaw',
  'State',
  'ExitCode',
  'Reason',
  'Start',
  'End',
  'NodeList',
  'ElapsedRaw',
  'TotalCPU',
  'MaxRSS',
  'AllocTRES',
] as const;
export const SACCT_FORMAT = SACCT_FIELDS.join(',');

export function slurmStateName(slurmState: string): JobStateName {
  // squeue prints "CANCELLED", sacct "CANCELLED by 1000", older versions "CANCELLED+".
  const s = slurmState.trim().split(/[\s+]/)[0]!.toUpperCase();
  switch (s) {
    case 'PENDING':
    case 'CONFIGURING':
    case 'REQUEUED':
    case 'REQUEUE_FED':
    case 'REQUEUE_HOLD':
    case 'SPECIAL_EXIT':
    case 'RESV_DEL_HOLD':
      return 'pending';
    case 'RUNNING':
    case 'COMPLETING':
    case 'SUSPENDED':
    case 'STOPPED':
    case 'SIGNALING':
    case 'STAGE_OUT':
    case 'RESIZING':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    // A preempted job that was requeued shows as PENDING again; one still PREEMPTED was not.
    case 'FAILED':
    case 'OUT_OF_MEMORY':
    case 'PREEMPTED':
      return 'failed';
    case 'CANCELLED':
    case 'REVOKED':
      return 'cancelled';
    case 'TIMEOUT':
    case 'DEADLINE':
      return 'timeout';
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
      return 'node_fail';
    default:
      return 'unknown';
  }
}

/** Slurm's "2026-11-27T03:03:35" (the client's local time) as ISO; "N/A", "Unknown", "None" → null. */
export function slurmTime(value: string | undefined): string | null {
  if (!value || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(value.trim())) return null;
  const d = new Date(value.trim());
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** "[D-]HH:MM:SS", "MM:SS", "MM:SS.mmm" → seconds. */
export function slurmDuration(value: string | undefined): number | null {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(value?.trim() ?? '');
  if (!m) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/** sacct's MaxRSS ("123456K", "1.5G"; a bare number is KiB) → KiB. */
export function slurmMemoryKb(value: string | undefined): number | null {
  const m = /^(\d+(?:\.\d+)?)([KMGTP]?)$/i.exec(value?.trim() ?? '');
  if (!m) return null;
  const scale: Record<string, number> = { '': 1, K: 1, M: 1024, G: 1024 ** 2, T: 1024 ** 3, P: 1024 ** 4 };
  return Math.round(Number(m[1]) * scale[m[2]!.toUpperCase()]!);
}

/**
 * GPUs in a TRES or GRES string: "gres/gpu=2", "gres/gpu:a100=2", "gres:gpu:2", "gpu:a100:4(S:0-1)".
 * The first value that names GPUs wins. AllocTRES lists "gres/gpu=2" and its typed
 * "gres/gpu:a100=2" side by side, so the untyped total is preferred over summing types.
 */
export function gpuCount(...values: (string | undefined)[]): number | null {
  for (const v of values) {
    if (!v || v === 'N/A' || v === '(null)') continue;
    let untyped: number | null = null;
    let typed: number | null = null;
    for (const part of v.split(',')) {
      const p = part
        .trim()
        .replace(/\(.*\)$/, '')
        .replace(/^gres[/:]/, '');
      const m = /^gpu(?::([^:=]+)(?=[:=]\d+$))?(?:[:=](\d+))?$/.exec(p) ?? /^gpu:([^:=]+)()$/.exec(p);
      if (!m) continue;
      const n = m[2] ? Number(m[2]) : 1;
      if (m[1] === undefined) untyped = (untyped ?? 0) + n;
      else typed = (typed ?? 0) + n;
    }
    if (untyped !== null || typed !== null) return untyped ?? typed;
  }
  return null;
}

/** A wait status or "code:signal" as the port's exit code: null when a signal ended it. */
export function exitCodeOf(raw: string | undefined): number | null {
  const v = raw?.trim() ?? '';
  let m = /^(\d+):(\d+)$/.exec(v);
  if (m) return Number(m[2]) === 0 ? Number(m[1]) : null;
  m = /^(\d+)$/.exec(v);
  if (!m) return null;
  // squeue's exit_code is the raw wait status: exit code in the high byte, signal in the low 7 bits.
  const status = Number(m[1]);
  return (status & 0x7f) === 0 ? (status >> 8) & 0xff : null;
}

function reasonOf(value: string | undefined): string | null {
  const r = value?.trim();
  return !r || r === 'None' || r === '(null)' ? null : r;
}

function finished(state: JobStateName): boolean {
  return state !== 'pending' && state !== 'running' && state !== 'unknown';
}

/** squeue -h --states=all -O SQUEUE_FORMAT output → state per job id. */
export function parseSqueue(stdout: string): Map<string, JobState> {
  const out = new Map<string, JobState>();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const cols = line.split('|').map((c) => c.trim());
    const f = Object.fromEntries(SQUEUE_FIELDS.map((name, i) => [name, cols[i]])) as Record<
      (typeof SQUEUE_FIELDS)[number],
      string | undefined
    >;
    if (!f.JobID || !f.State) continue;
    const state = slurmStateName(f.State);
    const started = state === 'pending' ? null : slurmTime(f.StartTime);
    const elapsedS = state === 'pending' ? null : slurmDuration(f.TimeUsed);
    const gpus = gpuCount(f['tres-alloc'], f['tres-per-node'], f['tres-per-job']);
    const usage: NonNullable<JobState['usage']> = {};
    if (elapsedS !== null) usage.elapsedS = elapsedS;
    if (gpus !== null) usage.gpus = gpus;
    out.set(f.JobID, {
      state,
      exitCode: finished(state) ? exitCodeOf(f.exit_code) : null,
      reason: reasonOf(f.Reason),
      startedAt: started,
      // For a live job EndTime is the expected end (start + limit), not a fact.
      endedAt: finished(state) ? slurmTime(f.EndTime) : null,
      restarts: Number(f.restartcnt) || 0,
      nodes: f.NodeList && f.NodeList !== '(null)' && f.NodeList !== 'N/A' ? f.NodeList : null,
      usage,
    });
  }
  return out;
}

/**
 * sacct -n -P -j … -o SACCT_FORMAT output (allocation lines plus step lines such as 1234.batch)
 * → state per job id. The job's own line gives the state; its steps give MaxRSS.
 */
export function parseSacct(stdout: string): Map<string, JobState> {
  const out = new Map<string, JobState>();
  const maxRss = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const cols = line.split('|');
    const f = Object.fromEntries(SACCT_FIELDS.map((name, i) => [name, cols[i]?.trim()])) as Record<
      (typeof SACCT_FIELDS)[number],
      string | undefined
    >;
    if (!f.JobIDRaw) continue;
    const [jobId, step] = f.JobIDRaw.split('.') as [string, string | undefined];
    const rss = slurmMemoryKb(f.MaxRSS);
    if (rss !== null) maxRss.set(jobId, Math.max(maxRss.get(jobId) ?? 0, rss));
    if (step !== undefined || !f.State) continue;
    const state = slurmStateName(f.State);
    const usage: NonNullable<JobState['usage']> = {};
    const elapsed = Number(f.ElapsedRaw);
    if (f.ElapsedRaw && Number.isFinite(elapsed)) usage.elapsedS = elapsed;
    const cpu = slurmDuration(f.TotalCPU);
    if (cpu !== null) usage.cpuSeconds = cpu;
    const gpus = gpuCount(f.AllocTRES);
    if (gpus !== null) usage.gpus = gpus;
    out.set(jobId, {
      state,
      exitCode: finished(state) ? exitCodeOf(f.ExitCode) : null,
      reason: reasonOf(f.Reason),
      startedAt: state === 'pending' ? null : slurmTime(f.Start),
      endedAt: finished(state) ? slurmTime(f.End) : null,
      // sacct keeps no requeue count of its own.
      restarts: 0,
      nodes: f.NodeList && f.NodeList !== 'None assigned' && f.NodeList !== '(null)' ? f.NodeList : null,
      usage,
    });
  }
  for (const [id, rss] of maxRss) {
    const s = out.get(id);
    if (s) s.usage = { ...s.usage, maxRssKb: rss };
  }
  return out;
}

export interface NodeCapacity {
  node: string;
  partition: string;
  isDefault: boolean;
  cpus: number;
  memoryMb: number;
  gpus: number;
  state: string;
}

/** sinfo -h -N -o '%N|%P|%c|%m|%G|%t' output. */
export function parseSinfo(stdout: string): NodeCapacity[] {
  const nodes: NodeCapacity[] = [];
  for (const line of stdout.split('\n')) {
    const [node, partition, cpus, memory, gres, state] = line.split('|').map((c) => c.trim());
    if (!node || !partition) continue;
    nodes.push({
      node,
      partition: partition.replace(/\*$/, ''),
      isDefault: partition.endsWith('*'),
      cpus: Number.parseInt(cpus ?? '', 10) || 0,
      memoryMb: Number.parseInt(memory ?? '', 10) || 0,
      gpus: gpuCount(gres) ?? 0,
      state: state ?? '',
    });
  }
  return nodes;
}

/** One of the jobs Slurm has under a run's name (squeue `%i|%T|%r`, or sacct `JobIDRaw|State`). */
export interface RunJob {
  id: string;
  state: JobStateName;
  /** Held by its submitter (`sbatch --hold`, reason JobHeldUser): it never starts until released. */
  held: boolean;
}

/** squeue -o '%i|%T|%r' or sacct -X -P --format=JobIDRaw,State lines: the jobs, lowest id first. */
export function parseRunJobs(stdout: string): RunJob[] {
  const jobs = new Map<string, RunJob>();
  for (const line of stdout.split('\n')) {
    const [id, state, reason] = line.trim().split('|');
    if (!id || !/^\d+$/.test(id) || state === undefined) continue;
    jobs.set(id, { id, state: slurmStateName(state), held: reason === 'JobHeldUser' });
  }
  return [...jobs.values()].sort((a, b) => Number(a.id) - Number(b.id));
}
