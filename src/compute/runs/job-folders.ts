import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  openSync,
  readdirSync,
} from 'node:fs';
import { join } from 'node:path';
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
      giveTree(d, account);
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

/**
 * What the server holds in a folder it gives to a job: an earlier attempt's checkpoints, taken
 * back from another pool account when that run ended (job-accounts.ts). Only entries of the
 * server's own account are given, and only such folders entered: nobody else can change them
 * meanwhile, so no link swapped in can lead the walk elsewhere. Anything else stays as it is.
 */
function giveTree(dir: string, account: JobAccount): void {
  const me = process.getuid?.();
  if (me === undefined || lstatSync(dir).uid !== me) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.uid !== me) continue;
    if (st.isDirectory()) giveTree(p, account);
    lchownSync(p, account.uid, account.gid);
  }
}

/**
 * Gives a run's folders back to the server once its account has no process left (the run still
 * holds it): the account's later jobs, other runs', can no longer read or change them. Returns
 * how many entries could not be taken back (0 for a tree the job left alone).
 */
export function takeBackFromJob(dirs: string[]): number {
  const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  let missed = 0;
  // The tree is the job's: what it made unreadable or too deep to name (ENAMETOOLONG) is left as
  // it is, and counted, rather than stopping the run from ever ending (its lease held for good).
  const walk = (p: string) => {
    try {
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) return;
      if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
      lchownSync(p, me.uid, me.gid);
    } catch {
      missed++;
    }
  };
  for (const d of dirs) walk(d);
  return missed;
}
