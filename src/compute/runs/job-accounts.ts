import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import type { JobAccount } from '../backends/port.js';
import type { RunDeps } from './deps.js';
import { takeBackFromJob } from './job-folders.js';
import { checkpointDir, isTerminal, type RunRow } from './store.js';

/**
 * A team server's pool of job accounts (`--job-user a,b,…`; docs/SERVER.md "One account per
 * running job"): each running job holds one account no other running job holds, so one job
 * cannot reach another's processes (/proc/<pid>/environ) or write its 0700 output folder.
 *
 * A lease is a row `job-account:<name>` in `store_locks` whose holder is the run's id: every
 * server process on the database sees it, and taking it is one conditional write, so of two
 * dispatchers one wins. It never expires by time: it is free again once its run has ended (a
 * terminal status), which needs no release step that a killed server could skip. Whoever takes a
 * free account kills every process of that account first, so nothing a previous job left
 * running (`setsid sleep &`) lives on beside the next job.
 */
const LEASE = 'job-account:';
/** Larger than any clock reading: the time-based expiry of store_locks never frees a lease. */
const NEVER = Number.MAX_SAFE_INTEGER;

/**
 * An account of `pool` for the run: the one it already holds (a dispatcher that took over a
 * stalled one's claim), else a free one, its leftover processes killed. LOCKED when all are
 * held by running jobs: the run stays queued with that reason.
 */
export async function leaseJobAccount(deps: RunDeps, runId: string, pool: readonly JobAccount[]): Promise<JobAccount> {
  const db = deps.bookkeeping;
  const rows = await db
    .selectFrom('store_locks')
    .select(['name', 'holder'])
    .where(
      'name',
      'in',
      pool.map((a) => LEASE + a.name),
    )
    .execute();
  const held = new Map(rows.map((r) => [r.name.slice(LEASE.length), r.holder]));
  for (const a of pool) if (held.get(a.name) === runId) return a;
  for (const a of pool) {
    const holder = held.get(a.name);
    if (holder !== undefined && !(await leaseEnded(deps, holder))) continue;
    if (await takeLease(deps, a, holder, runId)) {
      await killAccountProcesses(a);
      return a;
    }
  }
  throw new CairnError('LOCKED', `all ${pool.length} job accounts are held by running jobs`, {
    hint: 'the run starts when one of them ends (or the server admin adds accounts to --job-user)',
    data: { jobAccounts: pool.length },
  });
}

/** Gives back the account a run holds that never started a job (its start failed or must wait). */
export async function releaseJobAccount(deps: RunDeps, runId: string): Promise<void> {
  await deps.bookkeeping
    .deleteFrom('store_locks')
    .where('name', 'like', `${LEASE}%`)
    .where('holder', '=', runId)
    .execute();
}

/**
 * Kills what a run's job left running, as its run ends: the run still holds its account, so no
 * other job's processes are among them. Best effort: the next lease of the account kills again.
 * Then the run's output and checkpoint folders, metrics and logs are the server's again (modes kept).
 */
export async function endJobAccount(
  deps: RunDeps,
  run: Pick<RunRow, 'id' | 'dir' | 'run_key'>,
  pool: readonly JobAccount[],
): Promise<void> {
  const row = await deps.bookkeeping
    .selectFrom('store_locks')
    .select('name')
    .where('name', 'like', `${LEASE}%`)
    .where('holder', '=', run.id)
    .executeTakeFirst();
  const account = row && pool.find((a) => LEASE + a.name === row.name);
  if (!account) return;
  try {
    await killAccountProcesses(account);
  } catch {
    return; // a process left: its folders stay its own until the account is next leased
  }
  // No process of the account is left, and no other job holds it: nothing changes them meanwhile.
  const files = ['metrics.jsonl', 'stdout.log', 'stderr.log'].map((f) => join(run.dir, f));
  takeBackFromJob([join(run.dir, 'out'), checkpointDir(deps, run.run_key), ...files]);
}

async function leaseEnded(deps: RunDeps, runId: string): Promise<boolean> {
  const run = await deps.bookkeeping.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirst();
  return !run || isTerminal(run.status);
}

/** Takes the account's row when it is as read (absent, or held by `was`, an ended run). */
async function takeLease(deps: RunDeps, a: JobAccount, was: string | undefined, runId: string): Promise<boolean> {
  const db = deps.bookkeeping;
  const name = LEASE + a.name;
  const r =
    was === undefined
      ? await db
          .insertInto('store_locks')
          .values({ name, holder: runId, expires_at: NEVER })
          .onConflict((oc) => oc.column('name').doNothing())
          .executeTakeFirst()
      : await db
          .updateTable('store_locks')
          .set({ holder: runId })
          .where('name', '=', name)
          .where('holder', '=', was)
          .executeTakeFirst();
  const n = 'numInsertedOrUpdatedRows' in r ? r.numInsertedOrUpdatedRows : r.numUpdatedRows;
  return Number(n ?? 0) === 1;
}

/**
 * Kills every process of the account and waits until none is left. `kill -KILL -1` run as the
 * account signals all of its processes in one pass of the kernel (a process forking meanwhile
 * cannot slip through, as it could between a /proc listing and the kills), then /proc is read
 * until they are gone (zombies aside: they run nothing).
 */
export async function killAccountProcesses(a: Pick<JobAccount, 'name' | 'uid' | 'gid'>): Promise<void> {
  // Run as root, `kill -1` would signal every process on the machine.
  if (a.uid === 0) throw new CairnError('USAGE', `job account ${a.name} is root: its processes are not a job's`);
  for (let round = 0; round < 50; round++) {
    // No environment of the server's (its secrets) in a process of the account, however brief.
    spawnSync('/bin/sh', ['-c', 'kill -KILL -1 2>/dev/null'], { uid: a.uid, gid: a.gid, stdio: 'ignore', env: {} });
    if (livePids(a.uid).length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  // LOCKED: the run waits (its lease is given back), and the next start tries again.
  throw new CairnError('LOCKED', `the processes of job account ${a.name} (uid ${a.uid}) would not end`, {
    hint: `ps -u ${a.name}: a process stuck in the kernel (D state) holds the account; the run waits for another one`,
  });
}

/** Processes (not zombies) whose real, effective or saved uid is `uid`. */
function livePids(uid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    const zombie = /^State:\s+[ZX]/m.test(status);
    if (!zombie && uids && uids.slice(1).some((u) => Number(u) === uid)) out.push(Number(p));
  }
  return out;
}
