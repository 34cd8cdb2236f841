import { readdirSync, readFileSync } from 'node:fs';

const PAGE_KB = 4;
const HZ = 100;

export interface GroupSample {
  /** Resident memory of the group's processes now, summed (KiB). */
  rssKb: number;
  /** The highest peak resident memory (VmHWM) of any one process of the group so far (KiB). */
  hwmKb: number;
  /** CPU seconds of each process of the group so far, by pid. */
  cpuByPid: Map<number, number>;
  /** Processes of the group that have not exited (zombies waiting to be reaped do not count). */
  alive: number;
}

interface ProcStat {
  state: string;
  pgrp: number;
  cpuS: number;
  rssKb: number;
}

function readStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    state: f[0]!,
    pgrp: Number(f[2]),
    cpuS: (Number(f[11]) + Number(f[12])) / HZ,
    rssKb: Number(f[21]) * PAGE_KB,
  };
}

function readHwmKb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // exited meanwhile
  }
}

/** Children of a process (every thread's), from /proc/<pid>/task/<tid>/children. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' '))
        if (c.trim()) out.push(Number(c));
    } catch {
      /* thread gone, or a kernel without CONFIG_PROC_CHILDREN: the full scan finds them */
    }
  }
  return out;
}

/**
 * Follows one job's process group through /proc (Linux). Memory is sampled, but VmHWM is each
 * process's own peak as the kernel kept it, so a sample late in a process's life still sees
 * its peak; only a process that lives entirely between two samples is missed.
 *
 * A quick sample walks the process tree down from the processes already known (cheap even on
 * a login node with thousands of processes, so it can run every few milliseconds); a full
 * sample scans all of /proc, finding members whose parent died before they were seen.
 */
export class GroupSampler {
  readonly #pgid: number;
  readonly #known = new Set<number>();

  constructor(pgid: number) {
    this.#pgid = pgid;
    this.#known.add(pgid);
  }

  sample(opts: { full?: boolean } = {}): GroupSample {
    const out: GroupSample = { rssKb: 0, hwmKb: 0, cpuByPid: new Map(), alive: 0 };
    const candidates = opts.full ? allPids() : this.#descendants();
    this.#known.clear();
    for (const pid of candidates) {
      const st = readStat(pid);
      if (!st || st.pgrp !== this.#pgid) continue;
      this.#known.add(pid);
      if (st.state !== 'Z' && st.state !== 'X') out.alive++;
      out.cpuByPid.set(pid, st.cpuS);
      out.rssKb += st.rssKb;
      out.hwmKb = Math.max(out.hwmKb, readHwmKb(pid));
    }
    if (!this.#known.size) this.#known.add(this.#pgid);
    return out;
  }

  #descendants(): Set<number> {
    const seen = new Set<number>();
    const todo = [...this.#known];
    while (todo.length) {
      const pid = todo.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      todo.push(...childrenOf(pid));
    }
    return seen;
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of this process's reaped children (utime + stime of waited-for descendants). */
export function childrenCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / HZ;
  } catch {
    return 0;
  }
}
