// vitest globalSetup: after the whole run, say which throwaway services the tests left up on
// purpose (starting Slurm costs seconds, so later runs reuse them) and how to stop them.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function running(pidFile: string, marker: string): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmd.includes(marker) ? pid : null;
  } catch {
    return null;
  }
}

/** The demo workspace shared by test files this run (src/test-support/shared-demo.ts), and its lock. */
function removeSharedDemo(): void {
  for (const name of readdirSync(tmpdir()))
    if (name.startsWith(`cairn-shared-demo-${process.pid}-`))
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
}

export function teardown(): void {
  removeSharedDemo();
  const sshd = process.env.CAIRN_SSHD_DIR ?? '/tmp/cairn-sshd';
  const slurm = process.env.CAIRN_SLURM_DIR ?? '/tmp/cairn-slurm';
  const up = [
    ['sshd', running(join(sshd, 'sshd.pid'), sshd)],
    ['slurmctld', running(join(slurm, 'slurmctld.pid'), join(slurm, 'slurm.conf'))],
    ['slurmd', running(join(slurm, 'slurmd.pid'), join(slurm, 'slurm.conf'))],
  ].filter(([, pid]) => pid !== null);
  if (up.length)
    process.stdout.write(
      `\nLeft running for the next test run: ${up.map(([n, pid]) => `${n} (pid ${pid})`).join(', ')}; stop them with scripts/stop-services.sh\n`,
    );
}
