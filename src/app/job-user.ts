import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { probeJobNamespaces, type JobAccount } from '../compute/index.js';
import { CairnError } from '../core/errors.js';

/** What a team server's jobs run as, and where their folders live (docs/SERVER.md "Jobs run as their own account"). */
export interface ServerJobs {
  /** Jobs run as this account (the server runs as root and was given --job-user). */
  jobUser?: JobAccount;
  /**
   * Given several accounts (`--job-user a,b,…`): each job runs as one no other running job holds
   * (compute/runs/job-accounts.ts). `jobUser` is then the first, for what names the setup.
   */
  jobPool?: JobAccount[];
  /** Run folders, checkpoints, submitted code and the input cache: `<data dir>/jobs`, the one part a job reaches. */
  jobsDir?: string;
  /** No job may start: the server runs as root and nobody said jobs may too. */
  jobsRefused?: { message: string; hint: string };
  /**
   * With a job user: whether each local job runs in its own PID, mount and IPC namespaces
   * (private /tmp, /var/tmp and /dev/shm, its own processes, no other run's folder), or why this
   * machine refused them (docs/SERVER.md "Each job in its own namespaces"). Slurm: see there.
   */
  isolation?: JobIsolation;
}

export type JobIsolation = { namespaces: true } | { namespaces: false; reason: string };

export interface JobUserOptions {
  dataDir: string;
  /** `--job-user`: the OS account jobs run as, or several separated by commas (a pool). */
  jobUser?: string;
  /** `--allow-root-jobs` (or CAIRN_ALLOW_ROOT_JOBS=1): a root server without a job user runs jobs as root. */
  allowRootJobs?: boolean;
  /** The data dir was created by this start: its modes are ours to set. */
  fresh: boolean;
  /** The server's own uid (process.getuid()). */
  uid: number;
  /** The server's umask: the code and folders it writes for a job must stay readable by others. */
  umask: number;
  /** Private folders outside the data dir (a `file://` store elsewhere): checked like its entries. */
  elsewhere?: string[];
}

/**
 * The folders under the jobs dir, each traversable but not listable by the job's account: a job
 * reaches its own run, code and inputs by name, and lists nobody else's. The input cache's own
 * folders are made here too (mkdir keeps an existing folder's mode): left to the cache, they
 * were 0755, and a job listed every project's materialized inputs.
 */
const JOB_FOLDERS = [
  'runs',
  'checkpoints',
  'run-code',
  'cache',
  'cache/versions',
  'cache/seals',
  'cache/locks',
] as const;

/** Decides how this server runs jobs, and makes the data dir fit for it (or says why it is not). */
export function serverJobs(o: JobUserOptions): ServerJobs {
  if (!o.jobUser) {
    if (o.uid !== 0 || o.allowRootJobs) return {};
    return {
      jobsRefused: {
        message:
          'this server runs as root and has no job user: a run would execute a contributor’s code as root, which can read the signing key and rewrite the audit log',
        hint: 'the server’s admin restarts it with --job-user <account> (or --allow-root-jobs to run jobs as root anyway)',
      },
    };
  }
  const pool = jobPool(o.jobUser, o.uid);
  const account = pool[0]!;
  // The server's own account: nothing to switch to (a non-root server's jobs, as before).
  if (pool.length === 1 && account.uid === o.uid) return {};
  if (o.uid !== 0)
    throw new CairnError(
      'USAGE',
      `--job-user ${o.jobUser}: this server runs as uid ${o.uid}, and only root can start processes as another account`,
      {
        hint: 'start the server as root (it then runs every job as the job user), or leave --job-user out to run jobs as the server’s own account',
      },
    );
  if (o.umask & 0o005)
    throw new CairnError(
      'CONFIG_INVALID',
      `the server's umask ${mode(o.umask)} would make the code and folders it writes for a job unreadable to ${account.name}`,
      { hint: 'start it with umask 022 (systemd: UMask=0022); the data dir itself is kept private regardless' },
    );
  if (o.fresh) tighten(o.dataDir);
  const loose = [...looseEntries(o.dataDir, o.uid), ...(o.elsewhere ?? []).flatMap((p) => loosePath(p, o.uid))];
  if (loose.length)
    throw new CairnError(
      'CONFIG_INVALID',
      `jobs would run as ${account.name}, who could read the server’s private files: ${loose.map((l) => `${l.path} (${l.why})`).join('; ')}`,
      {
        hint: `chmod 711 ${o.dataDir} && chmod -R go-rwx ${loose
          .filter((l) => l.path !== o.dataDir)
          .map((l) => l.path)
          .join(' ')}`.replace(/ && chmod -R go-rwx $/, ''),
        data: { loose: loose.map((l) => l.path) },
      },
    );
  const jobsDir = jobsFolders(o.dataDir, o.uid);
  // Tried once here, as the account: a kernel or container that refuses namespaces is said at
  // start (and jobs run as before), never found out by a job that fails.
  const refused = probeJobNamespaces(account);
  const isolation: JobIsolation = refused === null ? { namespaces: true } : { namespaces: false, reason: refused };
  return pool.length > 1
    ? { jobUser: account, jobPool: pool, jobsDir, isolation }
    : { jobUser: account, jobsDir, isolation };
}

/**
 * The accounts of `--job-user a,b,…`. A pool's accounts must be distinct, and neither root nor
 * the server's own: each is leased to one job at a time and all its processes are killed when
 * it changes hands, which for root or the server's account would kill far more than a job.
 */
function jobPool(spec: string, serverUid: number): JobAccount[] {
  const names = spec.split(',').map((n) => n.trim());
  const pool = names.map(lookupAccount);
  if (pool.length === 1) return pool;
  const uids = new Set(pool.map((a) => a.uid));
  const bad = pool.find((a) => a.uid === 0 || a.uid === serverUid);
  if (bad || uids.size !== pool.length)
    throw new CairnError(
      'USAGE',
      bad
        ? `--job-user ${spec}: ${bad.name} (uid ${bad.uid}) is ${bad.uid === 0 ? 'root' : 'the server’s own account'}, not an account for jobs`
        : `--job-user ${spec}: two of these names are one account (the same uid)`,
      { hint: 'create one account per concurrent job: useradd --no-create-home --shell /usr/sbin/nologin cairn-job-N' },
    );
  return pool;
}

/** The account's uid, primary gid and home, from the system's user database (getent: files, LDAP, …). */
export function lookupAccount(name: string): JobAccount {
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(name) || name.length > 64)
    throw new CairnError('USAGE', `--job-user takes an account name, not ${JSON.stringify(name)}`);
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    throw new CairnError('NOT_FOUND', `there is no OS account ${JSON.stringify(name)} on this machine`, {
      hint: `create one for jobs: useradd --system --create-home ${name}`,
    });
  }
  const [, , uid, gid, , home] = line.split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/** A data dir this start created: private to the server, except that the job's account may pass through it to jobs/. */
function tighten(dataDir: string): void {
  chmodSync(dataDir, 0o711);
  for (const name of readdirSync(dataDir)) if (name !== 'jobs') chmodGoNone(join(dataDir, name));
}

function chmodGoNone(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  chmodSync(path, st.mode & 0o700);
}

/** What another account could read or change in the data dir, jobs/ aside. */
function looseEntries(dataDir: string, uid: number): Array<{ path: string; why: string }> {
  const out: Array<{ path: string; why: string }> = [];
  const root = lstatSync(dataDir);
  if (root.uid !== uid) out.push({ path: dataDir, why: `owned by uid ${root.uid}` });
  else if (root.mode & 0o066)
    out.push({ path: dataDir, why: `mode ${mode(root.mode)}, readable or writable by others` });
  for (const name of readdirSync(dataDir)) if (name !== 'jobs') out.push(...loosePath(join(dataDir, name), uid));
  return out;
}

/** A private file or folder that another account could read or change (none: []). */
function loosePath(path: string, uid: number): Array<{ path: string; why: string }> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return []; // not there (yet): created by the server, with its modes
  }
  // A link's own mode means nothing; where it leads is checked where it lies (the store's folder is passed as such).
  if (st.isSymbolicLink()) return [];
  if (st.uid !== uid) return [{ path, why: `owned by uid ${st.uid}` }];
  return st.mode & 0o077 ? [{ path, why: `mode ${mode(st.mode)}` }] : [];
}

const mode = (m: number) => `0${(m & 0o777).toString(8).padStart(3, '0')}`;

/** `<data dir>/jobs` and its folders: the server's, 0711 (a job reaches its own run's folder by name but lists nothing). */
function jobsFolders(dataDir: string, uid: number): string {
  const jobs = join(dataDir, 'jobs');
  for (const dir of [jobs, ...JOB_FOLDERS.map((f) => join(jobs, f))]) {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid)
      throw new CairnError('CONFIG_INVALID', `${dir} must be a folder of the server's own account (uid ${uid})`, {
        hint: `remove it, or chown root ${dir}; the server recreates it`,
      });
    chmodSync(dir, 0o711);
  }
  return jobs;
}
