import { chmodSync, chownSync, closeSync, constants, fchownSync, fstatSync, openSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import type { JobAccount } from '../backends/port.js';

/**
 * Makes what a job run as `account` must write its own: its output and checkpoint folders
 * (owner-only), and the files Cairn reads back (metrics, and the logs Slurm opens as the job's
 * account) created empty and given to it. The run folder that holds them stays the server's, so
 * the job can write into those files but never swap one for a link to a file of the server's
 * (the server reads them back, and serves the logs). Files are opened without following links.
 */
export function giveToJobUser(account: JobAccount, paths: { dirs: string[]; files: string[] }): void {
  try {
    for (const d of paths.dirs) {
      chownSync(d, account.uid, account.gid);
      chmodSync(d, 0o700);
    }
    for (const f of paths.files) {
      const fd = openSync(f, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
      try {
        if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
        fchownSync(fd, account.uid, account.gid);
      } finally {
        closeSync(fd);
      }
    }
  } catch (err) {
    throw new CairnError(
      'IO_ERROR',
      `cannot hand the run's folders to the job account ${account.name}: ${(err as Error).message}`,
      {
        hint: 'the server must run as root to run jobs as another account (docs/SERVER.md "Jobs run as their own account")',
        cause: err,
      },
    );
  }
}
