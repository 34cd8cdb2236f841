import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { CairnError } from '../../../core/errors.js';

export interface SlurmCommandOptions {
  /** Where sbatch, squeue, … live; unset: found on PATH. */
  binDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Run the client as this account (sbatch of a job user's job); needs root. */
  uid?: number;
  gid?: number;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** slurmctld answers within seconds when healthy; a hung client must not hang Cairn. */
const TIMEOUT_MS = 60_000;

/**
 * Runs a Slurm client without a shell (arguments are never re-parsed). A non-zero exit is a
 * result, not an error: each caller knows which of Slurm's complaints are fine. Only a client
 * that cannot run at all (missing, timed out) throws.
 */
export function runSlurm(cmd: string, args: readonly string[], options: SlurmCommandOptions): Promise<CommandResult> {
  const file = options.binDir ? join(options.binDir, cmd) : cmd;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      // Without an env of their own the clients inherit this process's (SLURM_CONF, …): nothing is read here.
      {
        ...(options.env ? { env: options.env } : {}),
        ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
        timeout: TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
        if (e.code === 'ENOENT') {
          return reject(
            new CairnError(
              'IO_ERROR',
              `Slurm's ${cmd} was not found${options.binDir ? ` in ${options.binDir}` : ' on PATH'}`,
              { cause: err, hint: "Install the Slurm client tools or set the Slurm backend's binDir." },
            ),
          );
        }
        if (e.killed)
          return reject(
            new CairnError(
              'IO_ERROR',
              `${cmd} did not answer within ${TIMEOUT_MS / 1000} s (is slurmctld overloaded?)`,
              { cause: err },
            ),
          );
        reject(new CairnError('IO_ERROR', `${cmd} failed to run: ${e.message}`, { cause: err }));
      },
    );
  });
}

/** Slurm's wording when the controller cannot be reached, as opposed to a refused request. */
export function isUnreachable(stderr: string): boolean {
  return /Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|connect failure|Communication connection failure/i.test(
    stderr,
  );
}

/** A Slurm client's error as a CairnError: unreachable controller → IO_ERROR, anything else → `code`. */
export function slurmError(
  cmd: string,
  res: CommandResult,
  code: 'INVALID_INPUT' | 'IO_ERROR',
  what: string,
): CairnError {
  const said = (res.stderr || res.stdout).trim().replace(/\s*\n\s*/g, ' | ') || `exit ${res.code}`;
  if (isUnreachable(res.stderr)) {
    return new CairnError('IO_ERROR', `${what}: the Slurm controller is unreachable (${cmd}: ${said})`, {
      data: { command: cmd, stderr: res.stderr },
      hint: 'Check that slurmctld runs and that SLURM_CONF points at its configuration.',
    });
  }
  return new CairnError(code, `${what}: ${cmd} said: ${said}`, { data: { command: cmd, stderr: res.stderr } });
}
