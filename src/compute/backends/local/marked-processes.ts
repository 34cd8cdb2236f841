import { readdirSync, readFileSync, statSync } from 'node:fs';

/** The variable every process of a local job inherits: the job's own random token. */
export const JOB_MARK = 'CAIRN_JOB_MARK';

/**
 * The processes owned by `uid` whose environment carries `JOB_MARK=<token>`: a job's processes
 * wherever they went — also those that left its process group with `setsid` (a daemon, `nohup
 * … &` under setsid), which signals to the group never reach. Reads `/proc/<pid>/environ`, which
 * the same account (or root) may read without privileges. A process that cleared or rewrote
 * its environment before exec is not found (docs/COMPUTE.md says so). Empty off Linux.
 */
export function markedProcesses(token: string, uid: number, except: ReadonlySet<number> = new Set()): number[] {
  const needle = Buffer.from(`\0${JOB_MARK}=${token}\0`);
  const first = Buffer.from(`${JOB_MARK}=${token}\0`);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (except.has(pid)) continue;
    try {
      if (statSync(`/proc/${name}`).uid !== uid) continue;
      const env = readFileSync(`/proc/${name}/environ`);
      if (env.includes(needle) || env.subarray(0, first.length).equals(first)) out.push(pid);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

/** Sends `sig` to each of `pids`; those already gone are skipped. */
export function signalEach(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}
