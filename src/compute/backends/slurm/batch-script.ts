import { CairnError } from '../../../core/errors.js';
import type { JobRequest } from '../port.js';

export interface SlurmPlacement {
  account?: string;
  partition?: string;
  qos?: string;
}

/** A value as one single-quoted POSIX shell word. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The batch script sbatch runs. The environment goes here as `export` lines rather than on the
 * command line, where values would be visible to everyone (ps, squeue) and commas would break
 * --export. The command runs under /bin/sh -c behind a small wrapper that exists for the
 * signals:
 *
 * - Slurm's `--signal=B:TERM@grace` (the checkpoint warning before the time limit) reaches the
 *   batch shell only. The wrapper passes it on to the job's whole process group, so a
 *   `trap … TERM` in the command, or in a training process it started, fires. (The command
 *   stays in that group rather than getting its own: proctrack/pgid clusters find a job's
 *   processes by it.)
 * - A command that exits on that early SIGTERM would make Slurm record FAILED (or COMPLETED)
 *   instead of TIMEOUT. So after a SIGTERM the wrapper outlives the command until Slurm kills
 *   it at the limit; after scancel Slurm has recorded CANCELLED already and kills it KillWait
 *   seconds later. Either way the state says why the job ended.
 * - Without a SIGTERM the wrapper exits with the command's status, which becomes the job's
 *   ExitCode.
 */
export function batchScript(job: JobRequest): string {
  const lines = [
    '#!/bin/sh',
    `# Cairn run ${job.runId}, written by Cairn's Slurm backend (sbatch keeps its own copy).`,
  ];
  for (const [name, value] of Object.entries({ ...job.baseEnv, ...job.env })) {
    if (!ENV_NAME.test(name))
      throw new CairnError(
        'INVALID_INPUT',
        `environment variable name ${JSON.stringify(name)} is not a valid shell name`,
        { data: { name } },
      );
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push(
    `cd ${shellQuote(job.cwd)} || exit 1`,
    'cairn_term=0',
    // slurmstepd makes the batch shell a process group leader, so group 0 is this job's
    // processes; the wrapper's own copy of the signal finds cairn_term set and stops there.
    'cairn_forward() {',
    '  [ "$cairn_term" = 1 ] && return 0',
    '  cairn_term=1',
    '  kill -TERM 0 2>/dev/null',
    '}',
    'trap cairn_forward TERM',
    `/bin/sh -c ${shellQuote(job.command)} &`,
    'cairn_child=$!',
    // A trapped signal ends `wait` early (status > 128) while the command still runs.
    'while :; do',
    '  wait "$cairn_child"',
    '  cairn_rc=$?',
    '  if [ "$cairn_rc" -gt 128 ] && kill -0 "$cairn_child" 2>/dev/null; then continue; fi',
    '  break',
    'done',
    'if [ "$cairn_term" = 1 ]; then',
    '  while :; do sleep 1; done',
    'fi',
    'exit "$cairn_rc"',
    '',
  );
  return lines.join('\n');
}

/** Slurm expands %j, %u, … in --output/--error; %% is a literal %. */
function slurmPath(path: string): string {
  return path.replaceAll('%', '%%');
}

/** sbatch's arguments for a job whose batch script is at `scriptPath`. */
export function sbatchArgs(job: JobRequest, scriptPath: string, defaults: SlurmPlacement): string[] {
  const { gpus, cpus, memoryMb, timeLimitS } = job.resources;
  const args = [
    '--parsable',
    `--job-name=cairn-${job.runId}`,
    // Held until the submitter has checked it is the run's only job (SlurmBackend.submit).
    '--hold',
    `--output=${slurmPath(job.stdoutPath)}`,
    `--error=${slurmPath(job.stderrPath)}`,
    // A requeued job appends to its first run's output instead of truncating it.
    '--open-mode=append',
    `--chdir=${job.cwd}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${Math.max(1, Math.ceil(cpus))}`,
  ];
  if (gpus > 0) args.push(`--gres=gpu:${gpus}`);
  if (memoryMb > 0) args.push(`--mem=${Math.ceil(memoryMb)}M`);
  if (timeLimitS > 0) {
    const minutes = Math.max(1, Math.ceil(timeLimitS / 60));
    args.push(`--time=${minutes}`);
    // SIGTERM to the batch shell gracePeriodS before the limit; the wrapper passes it on.
    // Slurm may send it up to a minute early (its timer runs once a minute or so). sbatch
    // takes at most 65535 s, and a warning before the job starts would be meaningless.
    const warn = Math.min(Math.ceil(job.gracePeriodS), minutes * 60, 65535);
    if (warn > 0) args.push(`--signal=B:TERM@${warn}`);
  }
  const account = job.slurm?.account ?? defaults.account;
  const partition = job.slurm?.partition ?? defaults.partition;
  const qos = job.slurm?.qos ?? defaults.qos;
  if (account) args.push(`--account=${account}`);
  if (partition) args.push(`--partition=${partition}`);
  if (qos) args.push(`--qos=${qos}`);
  args.push(job.requeue ? '--requeue' : '--no-requeue');
  // A workspace's job: Cairn's own environment (PATH, …) as the base. A server's job
  // (baseEnv given): nothing of the submitting server's; the script exports the whole list.
  // Either way the job's variables come from the script.
  args.push(job.baseEnv ? '--export=NONE' : '--export=ALL', scriptPath);
  return args;
}
