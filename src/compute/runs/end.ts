import { cpSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { isCairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc } from '../../core/time.js';
import { addVersion } from '../../datasets/index.js';
import { addEdges } from '../../meta/repos/lineage.js';
import type { JobState, PolicyAction } from '../backends/port.js';
import type { LocalExit } from '../backends/local/job-files.js';
import { LocalBackend } from '../backends/local/local-backend.js';
import type { RunDeps } from './deps.js';
import { endJobAccount } from './job-accounts.js';
import { ingestRunMetrics } from './metrics.js';
import { policyReason, recordPolicy } from './policy-actions.js';
import { recordDigests } from './record-digest.js';
import { checkpointDir, getRun, isTerminal, jobIdOf, type Reason, type RunRow, type StoredSpec } from './store.js';

/** What a run's row keeps as its usage once it ended. */
export interface EndUsage {
  elapsedS: number | null;
  cpuSeconds: number | null;
  maxRssKb: number | null;
  gpus: number;
  gpuSeconds: number;
  gpu: LocalExit['usage']['gpu'] | { available: false; reason: string };
  idleGpuSeconds: number | null;
  policy: PolicyAction[];
}

/** A run's usage from its backend's final state and (local backend) its exit record: pure. */
export function endUsage(run: Pick<RunRow, 'gpus' | 'backend'>, s: JobState, detail: LocalExit | null): EndUsage {
  const ms = s.startedAt && s.endedAt ? Date.parse(s.endedAt) - Date.parse(s.startedAt) : null;
  return {
    elapsedS: s.usage?.elapsedS ?? (ms === null ? null : ms / 1000),
    cpuSeconds: s.usage?.cpuSeconds ?? null,
    maxRssKb: s.usage?.maxRssKb ?? null,
    gpus: run.gpus,
    gpuSeconds: ms === null ? 0 : (run.gpus * ms) / 1000,
    gpu:
      detail?.usage.gpu ??
      (run.gpus
        ? { available: false, reason: `the ${run.backend} backend reports no GPU utilization for this job` }
        : { available: false, reason: 'no GPU was assigned' }),
    idleGpuSeconds: idleSeconds(detail?.usage.gpu, run.gpus),
    policy: s.policy ?? detail?.usage.policy ?? [],
  };
}

function idleSeconds(
  gpu: { available: true; samples: Array<{ t: number; util: number[] }> } | { available: false } | undefined,
  gpus: number,
): number | null {
  if (!gpu || !gpu.available || gpu.samples.length < 2) return gpus ? null : 0;
  let idle = 0;
  for (let i = 1; i < gpu.samples.length; i++) {
    const dt = gpu.samples[i]!.t - gpu.samples[i - 1]!.t;
    idle += dt * gpu.samples[i]!.util.filter((u) => u < 5).length;
  }
  return idle;
}

/** An end being recorded that is older than this is of a process that died meanwhile: taken over. */
const END_STALE_MS = 30 * 60_000;

/**
 * Records a run's end once, however many processes see it end at the same time (every `run ls`
 * and `run wait` syncs; on a team server many do at once): true when this call recorded it,
 * false when another one holds it or it has ended. Before, each of them versioned the outputs and
 * appended its own `run.finish`, so one run had two output versions and two finish events.
 */
export async function endRun(deps: RunDeps, run: RunRow, s: JobState): Promise<boolean> {
  if (!(await claimEnd(deps, run))) return false;
  // What the job left running dies before its outputs are versioned (docs/SERVER.md "One account per running job").
  if (deps.compute.jobPool) await endJobAccount(deps, run, deps.compute.jobPool);
  await recordEnd(deps, run, s);
  return true;
}

/**
 * Takes the end of a run that has not ended: `ended_at` (null on every unended run) is set to
 * now where the row still has the status and the `ended_at` read, so only one of several
 * concurrent enders goes on; the end it records overwrites it with the job's own end time.
 */
async function claimEnd(deps: RunDeps, run: RunRow): Promise<boolean> {
  if (isTerminal(run.status)) return false;
  const now = deps.clock.now();
  const held = run.ended_at;
  if (held !== null && now.getTime() - Date.parse(held) <= END_STALE_MS) return false;
  const took = await deps.bookkeeping
    .updateTable('runs')
    .set({ ended_at: isoUtc(now) })
    .where('id', '=', run.id)
    .where('status', '=', run.status)
    .where((eb) => (held === null ? eb('ended_at', 'is', null) : eb('ended_at', '=', held)))
    .executeTakeFirst();
  return Number(took.numUpdatedRows ?? 0) === 1;
}

/** Records a claimed end: usage, policy actions, outputs as a version with lineage, the audit event. */
async function recordEnd(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
  await ingestRunMetrics(deps, run, { final: true });
  const backend = jobIdOf(run) ? await deps.compute.backend(run.backend) : null;
  const detail = backend instanceof LocalBackend ? backend.exitRecord(run.id) : null;
  const usage = endUsage(run, s, detail);
  // Actions not seen while the job ran (it ended between two looks) are recorded now.
  await recordPolicy(deps, run, usage.policy, { setReason: false });
  run = await getRun(deps, run.id);
  if (s.state === 'completed') await finishRun(deps, run, s, usage);
  else await failRun(deps, run, s, usage);
}

async function finishRun(deps: RunDeps, run: RunRow, s: JobState, usage: EndUsage): Promise<void> {
  const stored = JSON.parse(run.spec) as StoredSpec;
  // A finished run's checkpoints stay with it: a forced rerun of the same key starts fresh
  // instead of resuming from the end. Unfinished attempts leave theirs for the next one.
  const ckpt = checkpointDir(deps, run.run_key);
  if (existsSync(ckpt)) renameSync(ckpt, join(run.dir, 'checkpoints'));
  const missing = stored.spec.outputs.filter((o) => !existsSync(join(run.dir, 'out', o)));
  if (missing.length) {
    await recordEnd(deps, run, {
      ...s,
      state: 'failed',
      reason: `the job did not write its declared output(s): ${missing.join(', ')}`,
    });
    return;
  }
  let output: Awaited<ReturnType<typeof collectOutput>>;
  try {
    output = await collectOutput(deps, run, stored.spec.outputs);
  } catch (err) {
    // A job's outputs that cannot be versioned as they are (a link leading out of them, to the
    // server's key or anywhere) fail the run. Before, the error escaped every look at the run,
    // which stayed running with its end claimed, and `run wait` never returned.
    if (!isCairnError(err, 'PATH_UNSAFE')) throw err;
    await recordEnd(deps, run, {
      ...s,
      state: 'failed',
      reason: `the job's outputs cannot be versioned: ${err.message}`,
    });
    return;
  }
  // The metrics and parameters are all in (ingested above): the event vouches for them by digest.
  const digests = await recordDigests(deps.meta.db, run.id);
  await deps.audit.audited(
    {
      action: 'run.finish',
      target: { type: 'run', name: run.id },
      inputs: stored.inputs.map((i) => `sha256:${i.digest}`),
      outputs: output ? [`sha256:${output.digest}`] : [],
      params: {
        exitCode: s.exitCode,
        usage: { elapsedS: usage.elapsedS, cpuSeconds: usage.cpuSeconds, gpuSeconds: usage.gpuSeconds },
        ...digests,
      },
    },
    async (commit) => {
      await commit(async (tx) => {
        await tx.db
          .updateTable('runs')
          .set({
            status: 'completed',
            exit_code: s.exitCode ?? 0,
            started_at: s.startedAt ?? run.started_at,
            ended_at: s.endedAt ?? isoUtc(deps.clock.now()),
            usage: canonicalJson(usage),
            output_version_id: output?.id ?? null,
            restarts: s.restarts,
            reason: null,
          })
          .where('id', '=', run.id)
          .execute();
        await addEdges(tx, runEdges(stored.inputs, run.id, output?.id ?? null, isoUtc(deps.clock.now())));
      });
    },
  );
}

/** Adds what the job wrote (only the declared paths, when it declares any) as the next version of runs/<name>. */
async function collectOutput(
  deps: RunDeps,
  run: RunRow,
  wanted: readonly string[],
): Promise<{ id: string; digest: string } | null> {
  let outDir = join(run.dir, 'out');
  if (wanted.length) {
    const staged = join(run.dir, 'collect');
    rmSync(staged, { recursive: true, force: true });
    for (const o of wanted) cpSync(join(outDir, o), join(staged, o), { recursive: true });
    outDir = staged;
  }
  if (!existsSync(outDir) || readdirSync(outDir).length === 0) return null;
  // Lineage goes through the run (inputs → run → output), recorded with the run's end.
  const added = await addVersion(deps, {
    source: outDir,
    name: `runs/${run.name}`,
    message: `outputs of run ${run.id}`,
  });
  return deps.meta.db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id', 'v.digest'])
    .where('d.name', '=', added.dataset)
    .where('v.number', '=', added.version)
    .executeTakeFirstOrThrow();
}

/** The lineage of a finished run: each input → run, and run → its output version. */
export function runEdges(inputs: StoredSpec['inputs'], runId: string, outputId: string | null, now: string) {
  const edge = (src: [string, string], dst: [string, string], relation: string) => ({
    id: uuidv7(),
    src_type: src[0],
    src_id: src[1],
    dst_type: dst[0],
    dst_id: dst[1],
    relation,
    via_type: null,
    via_id: null,
    created_at: now,
  });
  return [
    ...inputs.map((i) => edge(['dataset_version', i.versionId], ['run', runId], `input:${i.name}`)),
    ...(outputId ? [edge(['run', runId], ['dataset_version', outputId], 'output')] : []),
  ];
}

/** How an unsuccessful end reads: the status stored, the reason, and the words of its audit event. Pure. */
export function failureOf(
  run: Pick<RunRow, 'time_limit_s'>,
  s: JobState,
  usage: Pick<EndUsage, 'policy'>,
): { status: string; reason: Reason; eventReason: string; outcomeReason: string } {
  const code: Reason['code'] =
    s.state === 'timeout'
      ? 'TIMEOUT'
      : s.state === 'node_fail'
        ? 'NODE_FAIL'
        : s.state === 'cancelled'
          ? 'CANCELLED'
          : s.state === 'unknown'
            ? 'LOST'
            : 'EXIT';
  const status = s.state === 'unknown' ? 'failed' : s.state;
  const message =
    s.state === 'failed'
      ? s.exitCode !== null && s.exitCode !== 0
        ? `exited with status ${s.exitCode}`
        : (s.reason ?? 'failed')
      : s.state === 'timeout'
        ? `stopped at its time limit (${run.time_limit_s} s)`
        : (s.reason ?? s.state);
  // Stopped by the idle-GPU policy, not by anyone's cancel: say so, with the policy and its samples.
  const idleStop =
    s.state === 'cancelled' && s.stoppedBy === 'idle' ? usage.policy.findLast((p) => p.action === 'stop') : undefined;
  const reason: Reason = idleStop ? policyReason(idleStop) : { code, message };
  return {
    status,
    reason,
    eventReason: idleStop ? `${reason.code}: ${reason.message}` : message,
    outcomeReason: `${code}: ${message}`,
  };
}

async function failRun(deps: RunDeps, run: RunRow, s: JobState, usage: EndUsage): Promise<void> {
  const f = failureOf(run, s, usage);
  const digests = await recordDigests(deps.meta.db, run.id);
  await deps.audit.audited(
    {
      action: s.state === 'cancelled' ? 'run.cancel' : 'run.fail',
      target: { type: 'run', name: run.id },
      params: {
        state: f.status,
        exitCode: s.exitCode,
        reason: f.eventReason,
        ...(s.stoppedBy ? { stoppedBy: s.stoppedBy } : {}),
        ...digests,
      },
    },
    async (commit) => {
      await commit(
        async (tx) => {
          await tx.db
            .updateTable('runs')
            .set({
              status: f.status,
              exit_code: s.exitCode,
              ended_at: s.endedAt ?? isoUtc(deps.clock.now()),
              started_at: s.startedAt ?? run.started_at,
              usage: canonicalJson(usage),
              restarts: s.restarts,
              reason: canonicalJson(f.reason),
            })
            .where('id', '=', run.id)
            .execute();
        },
        s.state === 'cancelled' ? undefined : { outcome: 'failed', reason: f.outcomeReason },
      );
    },
  );
}
