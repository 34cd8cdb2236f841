import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { inputEnvName, RUN_ENV } from '../../core/run-contract.js';
import { isoUtc } from '../../core/time.js';
import { materializeShared } from '../../datasets/index.js';
import type { JobAccount, JobHandle, JobRequest } from '../backends/port.js';
import type { ComputePorts, RunDeps } from './deps.js';
import { endRun } from './end.js';
import { leaseJobAccount, releaseJobAccount } from './job-accounts.js';
import { giveToJobUser } from './job-folders.js';
import { quotaCheck } from './quota.js';
import { checkpointDir, JOB_CLAIM, type Reason, type RunRow, type StoredSpec } from './store.js';

/** Priority order, then oldest first (created_at is ISO-8601 UTC: text order is time order). */
export function dispatchOrder(
  a: Pick<RunRow, 'priority' | 'created_at'>,
  b: Pick<RunRow, 'priority' | 'created_at'>,
): number {
  return b.priority - a.priority || (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0);
}

/**
 * Starts queued runs in priority order (then oldest first) while their project's GPU quota and
 * the backend's free resources allow; the others keep (or get) a machine-readable reason. `read`: the runs the caller has just read,
 * queued ones among them, when nothing changed since.
 */
export async function dispatch(deps: RunDeps, read?: RunRow[]): Promise<void> {
  const queued =
    read?.filter((r) => r.status === 'queued').sort(dispatchOrder) ??
    (await deps.meta.db
      .selectFrom('runs')
      .selectAll()
      .where('status', '=', 'queued')
      .orderBy('priority', 'desc')
      .orderBy('created_at')
      .execute());
  for (const run of queued) {
    // Its end claimed (a `run cancel` under way): never started. A claim abandoned (the cancel was
    // killed) is stale after a while, and the cancel is finished here (endRun takes only such a one).
    if (run.ended_at !== null) {
      await endRun(deps, run, interruptedCancel(deps));
      continue;
    }
    const quota = await quotaCheck(deps, run.project, run.gpus);
    if (quota) {
      await keepReason(deps, run, quota);
      continue;
    }
    const claim = await claimRun(deps, run);
    if (!claim) continue;
    let started: Awaited<ReturnType<typeof tryStart>> = null;
    try {
      started = await tryStart(deps, run);
    } finally {
      if (!started || !('handle' in started)) {
        await releaseClaim(deps, run, claim);
        // Its job never started: the account it leased, if any, is free for the others.
        if (deps.compute.jobPool) await releaseJobAccount(deps, run.id);
      }
    }
    if (!started) continue;
    if (!('handle' in started)) {
      await keepReason(deps, run, started.reason);
      continue;
    }
    const set = await deps.bookkeeping
      .updateTable('runs')
      .set({ status: 'pending', backend_id: started.handle.id, reason: null })
      .where('id', '=', run.id)
      .where('status', '=', 'queued')
      .where('backend_id', '=', claim)
      // Not being cancelled: a cancel that claimed the run's end (ended_at) records it cancelled.
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (Number(set.numUpdatedRows ?? 0) !== 1 && !started.handle.adopted && (await endingNow(deps, run.id)))
      await (await deps.compute.backend(run.backend)).cancel(started.handle).catch(() => {});
  }
}

/**
 * Whether a run whose job this dispatcher started, but could not record, is ending: cancelled
 * while its job was being started, so the job goes too, not left running unrecorded. Otherwise
 * this dispatcher stalled past its claim and another took the claim over: that one's backend
 * adopts this job (it is the run's one job) or already withdrew it, and cancelling it here would
 * stop the job the run now records.
 */
async function endingNow(deps: RunDeps, id: string): Promise<boolean> {
  const row = await deps.bookkeeping.selectFrom('runs').select('ended_at').where('id', '=', id).executeTakeFirst();
  return !row || row.ended_at !== null;
}

/** How a queued run whose cancel was killed midway ends. */
function interruptedCancel(deps: RunDeps): Parameters<typeof endRun>[2] {
  return {
    state: 'cancelled',
    exitCode: null,
    reason: 'cancelled before it started (the cancel was interrupted and finished later)',
    startedAt: null,
    endedAt: isoUtc(deps.clock.now()),
    restarts: 0,
    nodes: null,
  };
}

/** A claim older than this is of a dispatcher that died while starting the job: taken over. */
const CLAIM_STALE_MS = 30 * 60_000;

/**
 * Takes a queued run for this dispatcher, or null when another one (a concurrent request, another
 * server process) holds it: several dispatchers read the same queued row, and without the claim
 * each handed it to the backend — the job ran as often, in one folder.
 */
async function claimRun(deps: RunDeps, run: RunRow): Promise<string | null> {
  const claim = `${JOB_CLAIM}${Date.now()}:${randomUUID()}`;
  const held = run.backend_id;
  const stale = held?.startsWith(JOB_CLAIM) && Date.now() - Number(held.split(':')[1]) > CLAIM_STALE_MS;
  if (held && !stale) return null;
  const took = await deps.bookkeeping
    .updateTable('runs')
    .set({ backend_id: claim })
    .where('id', '=', run.id)
    .where('status', '=', 'queued')
    .where('ended_at', 'is', null)
    .where((eb) => (held ? eb('backend_id', '=', held) : eb('backend_id', 'is', null)))
    .executeTakeFirst();
  return Number(took.numUpdatedRows ?? 0) === 1 ? claim : null;
}

async function releaseClaim(deps: RunDeps, run: RunRow, claim: string): Promise<void> {
  await deps.bookkeeping
    .updateTable('runs')
    .set({ backend_id: null })
    .where('id', '=', run.id)
    .where('backend_id', '=', claim)
    .execute();
}

/** Why a queued run waits, kept on its row when it changed (what `run why` shows). */
async function keepReason(deps: RunDeps, run: RunRow, reason: Reason): Promise<void> {
  if (canonicalJson(reason) === run.reason) return;
  await deps.bookkeeping
    .updateTable('runs')
    .set({ reason: canonicalJson(reason) })
    .where('id', '=', run.id)
    .execute();
}

/**
 * Hands one queued run to its backend: its job handle, the reason it must wait (no free
 * resources), or null when the run ended here (refused or failed, already recorded).
 */
async function tryStart(deps: RunDeps, run: RunRow): Promise<{ handle: JobHandle } | { reason: Reason } | null> {
  try {
    return { handle: await startJob(deps, run) };
  } catch (err) {
    if (err instanceof CairnError && err.code === 'LOCKED')
      return { reason: { code: 'RESOURCES', message: err.message, ...err.data } };
    if (err instanceof CairnError && err.code === 'INVALID_INPUT') {
      // The backend will never take it as it is: more than it has (CAPACITY), or a request it rejects (sbatch).
      await refuseRun(deps, run, {
        code: 'available' in err.data ? 'CAPACITY' : 'BACKEND',
        message: err.message,
        ...err.data,
        ...(err.hint ? { hint: err.hint } : {}),
      });
      return null;
    }
    await endRun(deps, run, {
      state: 'failed',
      exitCode: null,
      reason: `the backend refused the job: ${(err as Error).message}`,
      startedAt: null,
      endedAt: isoUtc(deps.clock.now()),
      restarts: 0,
      nodes: null,
    });
    return null;
  }
}

/** A queued run its backend can never start (it asks for more than there is): `refused`, audited as a denied submission. */
async function refuseRun(deps: RunDeps, run: RunRow, reason: Reason): Promise<void> {
  await deps.audit.audited(
    {
      action: 'run.submit',
      target: { type: 'run', name: run.id },
      params: {
        runName: run.name,
        runKey: run.run_key,
        project: run.project,
        backend: run.backend,
        reason: reason.message,
      },
    },
    async (commit) => {
      await commit(
        async (tx) => {
          await tx.db
            .updateTable('runs')
            .set({ status: 'refused', reason: canonicalJson(reason), ended_at: isoUtc(deps.clock.now()) })
            .where('id', '=', run.id)
            .where('status', '=', 'queued')
            .execute();
        },
        { outcome: 'denied', reason: `${reason.code}: ${reason.message}` },
      );
    },
  );
}

/** The environment a run's job gets (the contract of core/run-contract.ts), inputs aside: pure. */
export function jobEnv(
  run: Pick<RunRow, 'id' | 'name' | 'project'>,
  spec: StoredSpec['spec'],
  paths: { dir: string; out: string; checkpoints: string },
  sdk: ComputePorts['sdk'],
): Record<string, string> {
  return {
    ...spec.environment.vars,
    [RUN_ENV.runId]: run.id,
    [RUN_ENV.runName]: run.name,
    [RUN_ENV.project]: run.project,
    [RUN_ENV.outputDir]: paths.out,
    [RUN_ENV.checkpointDir]: paths.checkpoints,
    [RUN_ENV.metricsFile]: join(paths.dir, 'metrics.jsonl'),
    [RUN_ENV.params]: JSON.stringify(spec.params),
    // The SDKs shipped with Cairn: `import cairn_helper` in Python, CAIRN_SDK_JS for Node.
    PYTHONPATH: [sdk.python, spec.environment.vars.PYTHONPATH ?? sdk.inheritedPythonPath].filter(Boolean).join(':'),
    [RUN_ENV.sdkJs]: sdk.node,
  };
}

/** A pooled job's base environment names the account it leased (a single job user's is named by app/). */
function accountEnv(base: Record<string, string>, account: JobAccount | undefined): Record<string, string> {
  return account ? { ...base, HOME: account.home, USER: account.name, LOGNAME: account.name } : base;
}

/**
 * What a namespaced job sees of the jobs dir: of runs/ and checkpoints/ only its own folder, so
 * a job of the same account cannot reach another run's outputs even by their exact path (a run
 * id shown to a project's viewers, a run key computed from known code and data). What it is told
 * about under /tmp (a jobs dir or input cache there) is carried past its private /tmp.
 */
function jobView(deps: RunDeps, paths: { dir: string; ckpt: string }): NonNullable<JobRequest['isolate']> {
  const root = deps.compute.jobsDir;
  const hide = root
    ? [
        { parent: join(root, 'runs'), keep: paths.dir },
        { parent: join(root, 'checkpoints'), keep: paths.ckpt },
      ].filter((h) => h.keep.startsWith(`${h.parent}/`))
    : [];
  const { sdk } = deps.compute;
  const carry = [root, deps.compute.inputCache, sdk.python, dirname(sdk.node)].filter((p): p is string => !!p);
  return { carry, hide };
}

/** Prepares the run's folder and inputs, then hands the job to its backend. */
async function startJob(deps: RunDeps, run: RunRow): Promise<JobHandle> {
  const refused = deps.compute.jobsRefused;
  // INVALID_INPUT: the run is refused (audited as denied), not failed, and never retried here.
  if (refused) throw new CairnError('INVALID_INPUT', refused.message, { hint: refused.hint });
  const stored = JSON.parse(run.spec) as StoredSpec;
  const dir = run.dir;
  const out = join(dir, 'out');
  const ckpt = checkpointDir(deps, run.run_key);
  mkdirSync(out, { recursive: true });
  mkdirSync(ckpt, { recursive: true });
  const env = jobEnv(run, stored.spec, { dir, out, checkpoints: ckpt }, deps.compute.sdk);
  const pool = deps.compute.jobPool;
  const runAs = pool ? await leaseJobAccount(deps, run.id, pool) : deps.compute.jobUser;
  if (runAs)
    giveToJobUser(runAs, {
      dirs: [out, ckpt],
      files: [env[RUN_ENV.metricsFile]!, join(dir, 'stdout.log'), join(dir, 'stderr.log')],
    });
  for (const i of stored.inputs)
    env[inputEnvName(i.name)] = await materializeShared(deps, i.digest, deps.compute.inputCache);
  const backend = await deps.compute.backend(run.backend);
  return backend.submit({
    runId: run.id,
    command: stored.command,
    cwd: stored.codeDir,
    env,
    ...(deps.compute.jobBaseEnv ? { baseEnv: accountEnv(deps.compute.jobBaseEnv, pool && runAs) } : {}),
    ...(runAs ? { runAs } : {}),
    ...(runAs && deps.compute.jobNamespaces ? { isolate: jobView(deps, { dir, ckpt }) } : {}),
    stdoutPath: join(dir, 'stdout.log'),
    stderrPath: join(dir, 'stderr.log'),
    resources: { gpus: run.gpus, cpus: run.cpus, memoryMb: run.memory_mb, timeLimitS: run.time_limit_s },
    slurm: { ...deps.compute.config.slurm, ...stored.spec.slurm },
    gracePeriodS: stored.spec.graceS,
    requeue: stored.spec.requeue,
    idle: stored.spec.idle,
  });
}
