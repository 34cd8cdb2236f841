import { readdirSync, readFileSync } from 'node:fs';

const PAGE_KB = 4;
const HZ = 100;

/**
 * CPU seconds and resident memory of every process in a process group, from /proc (Linux).
 * Sampled: short-lived children between samples are missed for memory, not for CPU, which the
 * supervisor takes exactly from its reaped children at the end.
 */
export function sampleGroup(pgid: number): { rssKb: number; cpuS: number; procs: number } {
  let rssKb = 0;
  let cpuTicks = 0;
  let procs = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return { rssKb: 0, cpuS: 0, procs: 0 };
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue;
    procs++;
    cpuTicks += Number(f[11]) + Number(f[12]);
    rssKb += Number(f[21]) * PAGE_KB;
  }
  return { rssKb, cpuS: cpuTicks / HZ, procs };
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
