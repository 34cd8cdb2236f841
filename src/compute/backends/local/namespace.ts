import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CairnError } from '../../../core/errors.js';
import type { JobAccount, JobRequest } from '../port.js';

/**
 * The job's init: PID 1 of the job's own PID namespace, root in its own mount namespace. It
 * gives the job a private /tmp, /var/tmp and /dev/shm (and System V IPC), covers each hidden
 * parent with an empty tmpfs in which only the job's own folder is bound back (so another run's
 * folder is not there, even by its exact name), then starts the job's shell as the account and waits for it. A folder is
 * held open before what covers it is mounted and bound back through /proc/self/fd.
 *
 * Being PID 1 is the point: when it exits the kernel kills every process left in the namespace,
 * also one that cleared its environment (no CAIRN_JOB_MARK) and left the group with setsid. It
 * first gives those leftovers SIGTERM and the job's grace period, as the supervisor does for
 * the group. It installs no signal handler, so the supervisor's SIGTERM (to the whole process
 * group, which the job's processes share) never stops it before the job; SIGKILL does.
 *
 * It runs as root with the system's PATH and nothing of the job's environment (a contributor's
 * LD_PRELOAD would otherwise run in mount as root); the job's environment reaches only the
 * job's shell, through `env -i` after setpriv dropped to the account.
 *
 * Arguments: uid gid graceS command ncarry nhide carry... [parent keep]...; stdin: the job's
 * environment, NAME=VALUE entries each ended by a NUL.
 */
const INIT = [
  'fail() { echo "cairn: the job\'s private namespace could not be set up ($1); nothing of the job ran" >&2; exit 125; }',
  'uid=$1 gid=$2 grace=$3 cmd=$4 ncarry=$5 nhide=$6; shift 6',
  'fd=2',
  'hold() { fd=$((fd+1)); eval "exec $fd<\\"\\$1\\"" || fail "open $1"; }',
  'place() { mkdir -p "$2" && mount --no-canonicalize --bind "/proc/self/fd/$1" "$2" || fail "bind $2"; }',
  'i=0; for p in "$@"; do i=$((i+1)); [ "$i" -le "$ncarry" ] && hold "$p"; done',
  'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "tmpfs on /tmp"',
  'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm || fail "tmpfs on /dev/shm"',
  'if [ -d /var/tmp ] && [ ! -L /var/tmp ]; then mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp || fail "tmpfs on /var/tmp"; fi',
  'fd=2; while [ "$ncarry" -gt 0 ]; do fd=$((fd+1)); place "$fd" "$1"; ncarry=$((ncarry-1)); shift; done',
  'while [ "$nhide" -gt 0 ]; do',
  '  hold "$2"',
  '  mount -t tmpfs -o mode=0711,nosuid,nodev tmpfs "$1" || fail "tmpfs on $1"',
  '  place "$fd" "$2"; nhide=$((nhide-1)); shift 2',
  'done',
  'while [ "$fd" -gt 2 ]; do eval "exec $fd<&-"; fd=$((fd-1)); done',
  // The job's environment comes on stdin (NUL-separated), never as arguments of a process that
  // lives as long as the job: any account on the host reads /proc/<pid>/cmdline (set -- changes
  // this shell's arguments, not that record). The job's stdin is /dev/null, as without namespaces.
  'set --; while IFS= read -r -d "" v; do set -- "$@" "$v"; done',
  'setpriv --reuid="$uid" --regid="$gid" --clear-groups -- env -i -- "$@" /bin/sh -c "$cmd" </dev/null &',
  'job=$!',
  'while :; do wait "$job"; rc=$?; kill -0 "$job" 2>/dev/null || break; done',
  'others() {',
  '  for d in /proc/[0-9]*; do',
  '    [ "$d" = /proc/1 ] && continue',
  '    read -r st 2>/dev/null < "$d/stat" || continue',
  '    case "${st##*) }" in Z*|X*) ;; *) return 0 ;; esac',
  '  done',
  '  return 1',
  '}',
  'if others; then',
  '  kill -TERM -1 2>/dev/null',
  '  t=0; while others && [ "$t" -lt "$((grace * 20))" ]; do sleep 0.05; t=$((t+1)); done',
  'fi',
  'exit "$rc"',
].join('\n');

/** What the job sees of the host's folders: `JobRequest.isolate`. */
export type JobView = NonNullable<JobRequest['isolate']>;

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Found where the system keeps it, never through the PATH a job's spec may set. */
const UNSHARE =
  SYSTEM_PATH.split(':')
    .map((d) => `${d}/unshare`)
    .reduce((found, p) => found ?? (existsSync(p) ? p : undefined), undefined as string | undefined) ?? 'unshare';

/** The shared folders a job gets a private tmpfs on. */
const PRIVATE = ['/tmp', '/dev/shm', '/var/tmp'];

/** The init holds file descriptors 3 to 9 (what any POSIX shell opens): one per carried folder and per hidden parent. */
const MAX_HELD = 7;

/** Arguments of `unshare` that run `req`'s command in its own namespaces as `account` (pure). */
export function namespacedJob(
  req: Pick<JobRequest, 'command' | 'gracePeriodS'>,
  account: Pick<JobAccount, 'uid' | 'gid'>,
  view: JobView,
  env: NodeJS.ProcessEnv,
): { file: string; args: string[]; env: Record<string, string>; input: string } {
  const carry = carried(view.carry);
  for (const h of view.hide)
    if (!h.keep.startsWith(`${h.parent}/`)) throw new CairnError('INTERNAL', `${h.keep} is not inside ${h.parent}`);
  if (carry.length + view.hide.length > MAX_HELD)
    throw new CairnError('INTERNAL', 'too many folders to carry into a job namespace');
  const args = [
    '--mount',
    '--pid',
    // System V shared memory and message queues of its own, gone with it, as /dev/shm is.
    '--ipc',
    '--fork',
    // The supervisor's SIGKILL reaches unshare too (same group); its init must not outlive it.
    '--kill-child',
    '--mount-proc',
    '--propagation',
    'private',
    // bash, not dash: the init reads the job's environment NUL-separated (read -d '').
    '/bin/bash',
    '-c',
    INIT,
    'cairn-job-init',
    String(account.uid),
    String(account.gid),
    String(Math.max(0, Math.ceil(req.gracePeriodS))),
    req.command,
    String(carry.length),
    String(view.hide.length),
    ...carry,
    ...view.hide.flatMap((h) => [h.parent, h.keep]),
  ];
  const vars = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  if (vars.some((v) => v.includes('\0')))
    throw new CairnError('USAGE', "a job's environment variable holds a NUL byte");
  return { file: UNSHARE, args, env: { PATH: SYSTEM_PATH }, input: vars.map((v) => `${v}\0`).join('') };
}

/**
 * The folders a job is told about that the private /tmp, /var/tmp or /dev/shm would cover (a jobs dir
 * under /tmp, as in tests): each is bound back in place. One inside another is carried with it.
 */
function carried(paths: readonly string[]): string[] {
  const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  const covered = paths.filter((p) => PRIVATE.some((d) => p.startsWith(`${d}/`)));
  return [...new Set(covered)].filter((p, _, all) => !all.some((q) => q !== p && under(p, q))).sort();
}

/**
 * Whether this machine runs a job in its own namespaces: the same init as a job's, running
 * `true` as `account`. Null when it does; else the kernel's or the tool's words for why not
 * (not root, a container without CAP_SYS_ADMIN, no unshare or setpriv, no tmpfs).
 */
export function probeJobNamespaces(account: Pick<JobAccount, 'uid' | 'gid'>): string | null {
  const job = namespacedJob({ command: 'true', gracePeriodS: 0 }, account, { carry: [], hide: [] }, {});
  const r = spawnSync(job.file, job.args, {
    encoding: 'utf8',
    cwd: '/',
    env: job.env,
    input: job.input,
    timeout: 10_000,
  });
  if (r.status === 0) return null;
  const said = `${r.error?.message ?? ''} ${r.stderr ?? ''}`.trim().split('\n')[0];
  return `unshare ${r.status === null ? `ended by ${r.signal ?? 'an error'}` : `exited ${r.status}`}${said ? `: ${said}` : ''}`;
}
