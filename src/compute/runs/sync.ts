import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { compiledRead } from '../../meta/compiled-read.js';
import type { ReadDb } from '../../meta/read-db.js';
import { isoUtc } from '../../core/time.js';
import type { JobState } from '../backends/port.js';
import type { RunDeps } from './deps.js';
import { dispatch } from './dispatch.js';
import { endRun } from './end.js';
import { ingestRunMetrics } from './metrics.js';
import { recordPolicy } from './policy-actions.js';
import { ACTIVE, getRun, isTerminal, type RunRow } from './store.js';

/** Built and compiled once: every `run ls` on a server asks (building it was 3 % of a server's CPU per read). */
const unfinishedRuns = compiledRead((db: ReadDb) =>
  db
    .selectFrom('runs')
    .selectAll()
    .where('status', 'in', [...ACTIVE, 'queued']),
);

/**
 * Brings every active run up to date with its backend — this is how a `cairn` that was killed
 * while jobs ran recovers: the next command asks the backends — then starts queued runs.
 */
export async function syncRuns(deps: RunDeps): Promise<void> {
  // The active runs and the queued ones in one statement (every `run ls` on a server syncs): when
  // none is active nothing changes before dispatch, which takes the queued ones from here.
  const read = await unfinishedRuns(deps.meta.db);
  const active = read.filter((r) => (ACTIVE as readonly string[]).includes(r.status));
  const byBackend = new Map<string, RunRow[]>();
  for (const r of active) byBackend.set(r.backend, [...(byBackend.get(r.backend) ?? []), r]);
  for (const [name, runs] of byBackend) {
    const backend = await deps.compute.backend(name);
    const states = await backend.status(runs.map((r) => ({ backend: name as 'local' | 'slurm', id: r.backend_id! })));
    for (const run of runs) {
      const s = states.get(run.backend_id!);
      if (s) await syncRun(deps, run, s);
    }
  }
  await dispatch(deps, active.length === 0 ? read : undefined);
}

/** Applies one active run's state as its backend reports it. */
async function syncRun(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
  await ingestRunMetrics(deps, run);
  if (s.state === 'pending') {
    if (s.reason && s.reason !== JSON.parse(run.reason ?? 'null')?.message)
      await deps.bookkeeping
        .updateTable('runs')
        .set({ reason: canonicalJson({ code: 'BACKEND', message: s.reason }) })
        .where('id', '=', run.id)
        .execute();
    return;
  }
  if (s.state === 'running') {
    if (run.status !== 'running') await markStarted(deps, run, s);
    else if (s.restarts !== run.restarts) await markRestarted(deps, run, s);
    // A flag (or a checkpoint signal, or a stop in its grace period) shows while the job runs.
    if (s.policy?.length) await recordPolicy(deps, await getRun(deps, run.id), s.policy, { setReason: true });
    return;
  }
  if (run.status === 'pending' && s.startedAt) await markStarted(deps, run, s);
  await endRun(deps, await getRun(deps, run.id), s);
}

/**
 * Records a job's start once: `started_at` (null until then) is set where the row is still
 * pending and has none, so of several processes that see the job running only one appends the
 * `run.start` event (each did before).
 */
async function markStarted(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
  const startedAt = s.startedAt ?? isoUtc(deps.clock.now());
  const took = await deps.bookkeeping
    .updateTable('runs')
    .set({ started_at: startedAt })
    .where('id', '=', run.id)
    .where('status', '=', 'pending')
    .where('started_at', 'is', null)
    .executeTakeFirst();
  if (Number(took.numUpdatedRows ?? 0) !== 1) return;
  await deps.audit.audited(
    {
      action: 'run.start',
      target: { type: 'run', name: run.id },
      params: { backend: run.backend, job: run.backend_id, nodes: s.nodes, restarts: s.restarts },
    },
    async (commit) => {
      await commit(async (tx) => {
        await tx.db
          .updateTable('runs')
          .set({
            status: 'running',
            started_at: startedAt,
            restarts: s.restarts,
            reason: null,
          })
          .where('id', '=', run.id)
          .execute();
      });
    },
  );
}

/** A requeued job started again on its backend: a `run.start` event with the new restart count. */
async function markRestarted(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
  await deps.audit.audited(
    {
      action: 'run.start',
      target: { type: 'run', name: run.id },
      params: { backend: run.backend, job: run.backend_id, nodes: s.nodes, restarts: s.restarts },
    },
    (commit) =>
      commit(async (tx) => {
        await tx.db.updateTable('runs').set({ restarts: s.restarts }).where('id', '=', run.id).execute();
      }),
  );
}

/** Cancels a run: a queued one at once, a submitted one through its backend (SIGTERM, grace, SIGKILL). */
export async function cancelRun(deps: RunDeps, id: string): Promise<RunRow> {
  const run = await getRun(deps, id);
  if (isTerminal(run.status)) throw new CairnError('USAGE', `run ${run.id} has already ended (${run.status})`);
  if (run.status === 'queued') {
    const ended = await endRun(deps, run, {
      state: 'cancelled',
      exitCode: null,
      reason: 'cancelled before it started',
      startedAt: null,
      endedAt: isoUtc(deps.clock.now()),
      restarts: 0,
      nodes: null,
    });
    const now = await getRun(deps, run.id);
    // Its job was started meanwhile (by a concurrent dispatcher): that job is cancelled instead.
    return ended || now.status === 'queued' || isTerminal(now.status) ? now : cancelRun(deps, id);
  }
  const backend = await deps.compute.backend(run.backend);
  await backend.cancel({ backend: run.backend as 'local' | 'slurm', id: run.backend_id! });
  return run;
}

/** Waits until a run ends, syncing all runs meanwhile; `onTick` sees each refreshed row. */
export async function waitRun(
  deps: RunDeps,
  id: string,
  opts: { pollMs?: number; timeoutMs?: number; onTick?(run: RunRow): void } = {},
): Promise<RunRow> {
  const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Infinity;
  for (;;) {
    await syncRuns(deps);
    const run = await getRun(deps, id);
    opts.onTick?.(run);
    if (isTerminal(run.status)) return run;
    if (Date.now() > deadline)
      throw new CairnError('LOCKED', `run ${run.id} is still ${run.status}`, {
        hint: 'wait longer, or look at it with cairn run show',
      });
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
