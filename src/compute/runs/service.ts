import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { packageRoot } from '../../core/package-root.js';
import { CairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc } from '../../core/time.js';
import { addVersion } from '../../datasets/index.js';
import type { DatasetDeps } from '../../datasets/index.js';
import { addEdges } from '../../meta/repos/lineage.js';
import type { Selectable } from 'kysely';
import type { RunsTable } from '../../meta/schema.js';
import { materializeShared } from '../../datasets/index.js';
import type { ComputeBackend, JobHandle, JobState, PolicyAction } from '../backends/port.js';
import { LocalBackend } from '../backends/local/local-backend.js';
import { loadComputeConfig, type ComputeConfig } from '../config.js';
import type { RunKeyInput } from '../run-spec/run-key.js';
import type { PreparedRun } from './prepare.js';
import { budgetCheck, quotaCheck } from './quota.js';
import { ingestRunMetrics } from './metrics.js';
import { inputEnvName } from '../../core/run-contract.js';

export interface RunDeps extends DatasetDeps {
  cairnDir: string;
}

export type RunRow = Selectable<RunsTable>;

export const ACTIVE = ['pending', 'running'] as const;
export const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout', 'node_fail', 'reused', 'refused'] as const;

/** What `run` stores as the spec: the resolved spec plus the key input, for plans and audits. */
export interface StoredSpec {
  spec: PreparedRun['spec'];
  specPath: string;
  codeDir: string;
  command: string;
  inputs: PreparedRun['inputs'];
  keyInput: RunKeyInput;
}

export interface Reason {
  code:
    | 'QUOTA'
    | 'RESOURCES'
    | 'CAPACITY'
    | 'BACKEND'
    | 'BUDGET'
    | 'CACHE_HIT'
    | 'EXIT'
    | 'TIMEOUT'
    | 'NODE_FAIL'
    | 'CANCELLED'
    | 'LOST'
    | 'IDLE_FLAG'
    | 'IDLE_CHECKPOINT'
    | 'IDLE_STOP';
  message: string;
  [k: string]: unknown;
}

export function runDir(deps: RunDeps, id: string): string {
  return join(deps.cairnDir, 'runs', id);
}

/**
 * The per-file digests of a run's code, kept in its folder (`code-files.json`) rather than in
 * its row: they can run to thousands of entries, and only `run plan` reads them, to name the
 * files that differ from this run.
 */
export function writeCodeFiles(dir: string, files: PreparedRun['codeFiles']): void {
  if (!files) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'code-files.json'), `${JSON.stringify(files)}\n`);
}

/** What writeCodeFiles kept for a run, or null (a run from before they were kept, or a folder cleaned up). */
export function readCodeFiles(dir: string): PreparedRun['codeFiles'] {
  try {
    return JSON.parse(readFileSync(join(dir, 'code-files.json'), 'utf8')) as PreparedRun['codeFiles'];
  } catch {
    return null;
  }
}

/** Checkpoints belong to the run key, so a requeued or re-submitted identical run resumes from them. */
export function checkpointDir(deps: RunDeps, key: string): string {
  return join(deps.cairnDir, 'checkpoints', key);
}

let backends = new Map<string, ComputeBackend>();

export async function backendFor(
  deps: RunDeps,
  name: string,
  cfg: ComputeConfig = loadComputeConfig(deps.cairnDir),
): Promise<ComputeBackend> {
  const k = `${deps.cairnDir}:${name}`;
  const known = backends.get(k);
  if (known) return known;
  let b: ComputeBackend;
  if (name === 'local') {
    b = new LocalBackend({
      stateDir: join(deps.cairnDir, 'compute', 'local'),
      ...(cfg.localGpus ? { gpus: cfg.localGpus } : {}),
      sampleIntervalMs: cfg.sampleIntervalS * 1000,
    });
  } else if (name === 'slurm') {
    const { SlurmBackend } = await import('../backends/slurm/slurm-backend.js');
    b = new SlurmBackend({ ...cfg.slurm });
  } else throw new CairnError('USAGE', `unknown backend ${JSON.stringify(name)} (local or slurm)`);
  backends.set(k, b);
  return b;
}

/** Tests swap backends between workspaces; the CLI never needs to. */
export function forgetBackends(): void {
  backends = new Map();
}

export interface SubmitResult {
  run: RunRow;
  /** `reused`: a cache hit; `refused`: over budget; `queued`: waiting for quota or resources; else submitted. */
  outcome: 'reused' | 'refused' | 'queued' | 'submitted';
}

/** The finished run whose results an identical run would reuse, or null. */
export async function cacheHit(deps: RunDeps, key: string): Promise<RunRow | null> {
  return (
    (await deps.meta.db
      .selectFrom('runs')
      .selectAll()
      .where('run_key', '=', key)
      .where('status', '=', 'completed')
      .orderBy('ended_at', 'desc')
      .limit(1)
      .executeTakeFirst()) ?? null
  );
}

/**
 * Records a run and starts it when it can: a finished identical run is reused (unless
 * `force`), a run that would exceed its project's budget is refused, a run over its project's
 * GPU quota (or the machine's free resources) waits in the queue with a reason; otherwise its
 * job is submitted.
 */
export async function submitRun(deps: RunDeps, p: PreparedRun, opts: { force?: boolean } = {}): Promise<SubmitResult> {
  const now = isoUtc(deps.clock.now());
  const id = uuidv7(deps.clock.now().getTime());
  const stored: StoredSpec = {
    spec: p.spec,
    specPath: p.specPath,
    codeDir: p.codeDir,
    command: p.command,
    inputs: p.inputs,
    keyInput: p.keyInput,
  };
  const base: RunRow = {
    id,
    run_key: p.key,
    name: p.spec.name,
    project: p.spec.project,
    spec_digest: p.specDigest,
    spec: canonicalJson(stored),
    backend: p.spec.backend,
    backend_id: null,
    status: 'queued',
    reason: null,
    exit_code: null,
    priority: p.spec.priority,
    gpus: p.spec.resources.gpus,
    cpus: p.spec.resources.cpus,
    memory_mb: p.spec.resources.memoryMb,
    time_limit_s: p.spec.resources.timeLimitS,
    created_at: now,
    created_by: deps.actor().id,
    started_at: null,
    ended_at: null,
    restarts: 0,
    code_commit: p.keyInput.code.commit,
    code_dirty: p.keyInput.code.dirty,
    env_digest: p.keyInput.environment.lockfile,
    dir: runDir(deps, id),
    output_version_id: null,
    reused_from: null,
    usage: canonicalJson({}),
    metrics_offset: 0,
  };
  const target = { type: 'run', name: id };
  const inputs = p.inputs.map((i) => `sha256:${i.digest}`);
  const params = {
    runName: p.spec.name,
    runKey: p.key,
    project: p.spec.project,
    backend: p.spec.backend,
    command: p.command,
    codeCommit: p.keyInput.code.commit,
    codeDirty: p.keyInput.code.dirty,
    params: p.spec.params,
    resources: p.spec.resources,
    specDigest: `sha256:${p.specDigest}`,
  };

  const hit = opts.force ? null : await cacheHit(deps, p.key);
  if (hit) {
    const row: RunRow = {
      ...base,
      status: 'reused',
      reused_from: hit.id,
      output_version_id: hit.output_version_id,
      started_at: now,
      ended_at: now,
      exit_code: hit.exit_code,
      reason: canonicalJson({
        code: 'CACHE_HIT',
        message: `run ${hit.id} has the same run key and finished at ${hit.ended_at}`,
      }),
    };
    await deps.audit.audited(
      {
        action: 'run.reuse',
        target,
        inputs,
        params: { ...params, reusedFrom: hit.id, savedGpuSeconds: gpuSeconds(hit) },
      },
      async (commit) => {
        await commit(async (tx) => {
          await tx.db.insertInto('runs').values(row).execute();
          await insertParams(tx.db, id, p.spec.params);
        });
      },
    );
    return { run: row, outcome: 'reused' };
  }

  const budget = await budgetCheck(
    deps,
    p.spec.project,
    p.spec.resources.gpus,
    p.spec.resources.timeLimitS,
    deps.clock.now(),
  );
  if (budget) {
    const row: RunRow = { ...base, status: 'refused', reason: canonicalJson(budget), ended_at: now };
    await deps.audit.audited({ action: 'run.submit', target, inputs, params }, async (commit) => {
      await commit(
        async (tx) => {
          await tx.db.insertInto('runs').values(row).execute();
          await insertParams(tx.db, id, p.spec.params);
        },
        { outcome: 'denied', reason: `BUDGET_EXCEEDED: ${budget.message}` },
      );
    });
    throw new CairnError('BUDGET_EXCEEDED', budget.message, { data: { run: id, ...budget } });
  }

  await deps.audit.audited({ action: 'run.submit', target, inputs, params }, async (commit) => {
    await commit(async (tx) => {
      await tx.db.insertInto('runs').values(base).execute();
      await insertParams(tx.db, id, p.spec.params);
    });
  });
  writeCodeFiles(base.dir, p.codeFiles);
  await dispatch(deps);
  const run = await getRun(deps, id);
  if (run.status === 'refused') {
    // The backend can never give what it asks for (more GPUs than the machine has): refused
    // now, like a run over budget, rather than a job that "failed" without running.
    const reason = JSON.parse(run.reason!) as Reason;
    throw new CairnError('INVALID_INPUT', reason.message, {
      data: { run: id, ...reason },
      ...(typeof reason.hint === 'string' ? { hint: reason.hint } : {}),
    });
  }
  return { run, outcome: run.status === 'queued' ? 'queued' : 'submitted' };
}

async function insertParams(db: RunDeps['meta']['db'], runId: string, params: Record<string, unknown>): Promise<void> {
  const rows = Object.entries(params).map(([name, value]) => ({ run_id: runId, name, value: JSON.stringify(value) }));
  if (rows.length) await db.insertInto('run_params').values(rows).execute();
}

export function gpuSeconds(r: Pick<RunRow, 'gpus' | 'started_at' | 'ended_at'>): number {
  if (!r.started_at || !r.ended_at || r.gpus === 0) return 0;
  return (r.gpus * (Date.parse(r.ended_at) - Date.parse(r.started_at))) / 1000;
}

export async function getRun(deps: Pick<RunDeps, 'meta'>, idOrPrefix: string): Promise<RunRow> {
  const rows = await deps.meta.db
    .selectFrom('runs')
    .selectAll()
    .where('id', 'like', `${idOrPrefix.replace(/[%_]/g, '')}%`)
    .limit(2)
    .execute();
  if (rows.length === 0)
    throw new CairnError('NOT_FOUND', `no run ${idOrPrefix}`, { hint: 'list runs with cairn run ls' });
  if (rows.length > 1)
    throw new CairnError('AMBIGUOUS_REF', `${idOrPrefix} matches more than one run`, {
      hint: 'give more characters of the run id',
    });
  return rows[0]!;
}

/**
 * Starts queued runs in priority order (then oldest first) while their project's GPU quota and
 * the backend's free resources allow; the others keep (or get) a machine-readable reason.
 */
export async function dispatch(deps: RunDeps): Promise<void> {
  const queued = await deps.meta.db
    .selectFrom('runs')
    .selectAll()
    .where('status', '=', 'queued')
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .execute();
  const cfg = loadComputeConfig(deps.cairnDir);
  for (const run of queued) {
    const quota = await quotaCheck(deps, run.project, run.gpus);
    let reason: Reason | null = quota;
    let handle: JobHandle | null = null;
    if (!reason) {
      try {
        handle = await startJob(deps, run, cfg);
      } catch (err) {
        if (err instanceof CairnError && err.code === 'LOCKED')
          reason = { code: 'RESOURCES', message: err.message, ...err.data };
        else if (err instanceof CairnError && err.code === 'INVALID_INPUT') {
          // The backend will never take it as it is: more than it has (CAPACITY), or a request it rejects (sbatch).
          await refuseRun(deps, run, {
            code: 'available' in err.data ? 'CAPACITY' : 'BACKEND',
            message: err.message,
            ...err.data,
            ...(err.hint ? { hint: err.hint } : {}),
          });
          continue;
        } else {
          await endRun(deps, run, {
            state: 'failed',
            exitCode: null,
            reason: `the backend refused the job: ${(err as Error).message}`,
            startedAt: null,
            endedAt: isoUtc(deps.clock.now()),
            restarts: 0,
            nodes: null,
          });
          continue;
        }
      }
    }
    if (handle) {
      await deps.meta.db
        .updateTable('runs')
        .set({ status: 'pending', backend_id: handle.id, reason: null })
        .where('id', '=', run.id)
        .where('status', '=', 'queued')
        .execute();
    } else if (reason && canonicalJson(reason) !== run.reason) {
      await deps.meta.db
        .updateTable('runs')
        .set({ reason: canonicalJson(reason) })
        .where('id', '=', run.id)
        .execute();
    }
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

/** Prepares the run's folder and inputs, then hands the job to its backend. */
async function startJob(deps: RunDeps, run: RunRow, cfg: ComputeConfig): Promise<JobHandle> {
  const stored = JSON.parse(run.spec) as StoredSpec;
  const dir = run.dir;
  const out = join(dir, 'out');
  const ckpt = checkpointDir(deps, run.run_key);
  mkdirSync(out, { recursive: true });
  mkdirSync(ckpt, { recursive: true });
  const cache = cfg.cache ?? process.env.CAIRN_CACHE ?? join(deps.cairnDir, 'cache');
  const env: Record<string, string> = {
    ...stored.spec.environment.vars,
    CAIRN_RUN_ID: run.id,
    CAIRN_RUN_NAME: run.name,
    CAIRN_PROJECT: run.project,
    CAIRN_OUTPUT_DIR: out,
    CAIRN_CHECKPOINT_DIR: ckpt,
    CAIRN_METRICS_FILE: join(dir, 'metrics.jsonl'),
    CAIRN_PARAMS: JSON.stringify(stored.spec.params),
    // The SDKs shipped with Cairn: `import cairn_helper` in Python, CAIRN_SDK_JS for Node.
    PYTHONPATH: [
      join(packageRoot(), 'sdk', 'python'),
      stored.spec.environment.vars.PYTHONPATH ?? process.env.PYTHONPATH,
    ]
      .filter(Boolean)
      .join(':'),
    CAIRN_SDK_JS: join(packageRoot(), 'dist', 'sdk', 'index.js'),
  };
  for (const i of stored.inputs) env[inputEnvName(i.name)] = await materializeShared(deps, i.digest, cache);
  const backend = await backendFor(deps, run.backend, cfg);
  return backend.submit({
    runId: run.id,
    command: stored.command,
    cwd: stored.codeDir,
    env,
    stdoutPath: join(dir, 'stdout.log'),
    stderrPath: join(dir, 'stderr.log'),
    resources: { gpus: run.gpus, cpus: run.cpus, memoryMb: run.memory_mb, timeLimitS: run.time_limit_s },
    slurm: { ...cfg.slurm, ...stored.spec.slurm },
    gracePeriodS: stored.spec.graceS,
    requeue: stored.spec.requeue,
    idle: stored.spec.idle,
  });
}

/**
 * Brings every active run up to date with its backend — this is how a `cairn` that was killed
 * while jobs ran recovers: the next command asks the backends — then starts queued runs.
 */
export async function syncRuns(deps: RunDeps): Promise<void> {
  const active = await deps.meta.db
    .selectFrom('runs')
    .selectAll()
    .where('status', 'in', [...ACTIVE])
    .execute();
  const byBackend = new Map<string, RunRow[]>();
  for (const r of active) byBackend.set(r.backend, [...(byBackend.get(r.backend) ?? []), r]);
  for (const [name, runs] of byBackend) {
    const backend = await backendFor(deps, name);
    const states = await backend.status(runs.map((r) => ({ backend: name as 'local' | 'slurm', id: r.backend_id! })));
    for (const run of runs) {
      const s = states.get(run.backend_id!);
      if (!s) continue;
      await ingestRunMetrics(deps, run);
      if (s.state === 'pending') {
        if (s.reason && s.reason !== JSON.parse(run.reason ?? 'null')?.message)
          await deps.meta.db
            .updateTable('runs')
            .set({ reason: canonicalJson({ code: 'BACKEND', message: s.reason }) })
            .where('id', '=', run.id)
            .execute();
        continue;
      }
      if (s.state === 'running') {
        if (run.status !== 'running') await markStarted(deps, run, s);
        else if (s.restarts !== run.restarts)
          await deps.meta.db.updateTable('runs').set({ restarts: s.restarts }).where('id', '=', run.id).execute();
        // A flag (or a checkpoint signal, or a stop in its grace period) shows while the job runs.
        if (s.policy?.length) await recordPolicy(deps, await getRun(deps, run.id), s.policy, { setReason: true });
        continue;
      }
      if (run.status === 'pending' && s.startedAt) await markStarted(deps, run, s);
      await endRun(deps, await getRun(deps, run.id), s);
    }
  }
  await dispatch(deps);
}

async function markStarted(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
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
            started_at: s.startedAt ?? isoUtc(deps.clock.now()),
            restarts: s.restarts,
            reason: null,
          })
          .where('id', '=', run.id)
          .execute();
      });
    },
  );
}

const POLICY_REASON = { flag: 'IDLE_FLAG', checkpoint: 'IDLE_CHECKPOINT', stop: 'IDLE_STOP' } as const;
const POLICY_WORDS = {
  flag: 'flagged the run',
  checkpoint: 'signalled the job to checkpoint (SIGUSR1)',
  stop: 'stopped the run',
} as const;

/** The reason a policy action gives a run: its code, the policy and the samples that triggered it. */
export function policyReason(p: PolicyAction): Reason {
  return {
    code: POLICY_REASON[p.action],
    message: `the idle-GPU policy ${POLICY_WORDS[p.action]}: ${p.detail}`,
    at: p.t,
    policy: p.policy,
    samples: p.samples,
  };
}

/**
 * Records the idle-policy actions a run's backend took that the run does not have yet, each
 * as a `run.policy` event in the transaction that adds it to the run's usage (the actions
 * recorded so far live there, so none is recorded twice). While the job runs the latest one
 * is also the run's reason, so `run why` and `run show` say it before the run ends.
 */
async function recordPolicy(
  deps: RunDeps,
  run: RunRow,
  actions: readonly PolicyAction[],
  opts: { setReason: boolean },
): Promise<void> {
  const usage = JSON.parse(run.usage) as { policy?: PolicyAction[] };
  for (let i = usage.policy?.length ?? 0; i < actions.length; i++) {
    const p = actions[i]!;
    const next = canonicalJson({ ...usage, policy: actions.slice(0, i + 1) });
    await deps.audit.audited(
      {
        action: 'run.policy',
        target: { type: 'run', name: run.id },
        params: { action: p.action, detail: p.detail, at: p.t, policy: p.policy, samples: p.samples },
      },
      async (commit) => {
        await commit(async (tx) => {
          await tx.db
            .updateTable('runs')
            .set({ usage: next, ...(opts.setReason ? { reason: canonicalJson(policyReason(p)) } : {}) })
            .where('id', '=', run.id)
            .execute();
        });
      },
    );
  }
}

/** Records a run's end: usage, policy actions, outputs as a version with lineage, the audit event. */
async function endRun(deps: RunDeps, run: RunRow, s: JobState): Promise<void> {
  await ingestRunMetrics(deps, run, { final: true });
  const backend = run.backend_id ? await backendFor(deps, run.backend) : null;
  const detail = backend instanceof LocalBackend ? backend.exitRecord(run.id) : null;
  const usage = {
    elapsedS:
      s.usage?.elapsedS ?? (s.startedAt && s.endedAt ? (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000 : null),
    cpuSeconds: s.usage?.cpuSeconds ?? null,
    maxRssKb: s.usage?.maxRssKb ?? null,
    gpus: run.gpus,
    gpuSeconds: s.startedAt && s.endedAt ? (run.gpus * (Date.parse(s.endedAt) - Date.parse(s.startedAt))) / 1000 : 0,
    gpu:
      detail?.usage.gpu ??
      (run.gpus
        ? { available: false, reason: `the ${run.backend} backend reports no GPU utilization for this job` }
        : { available: false, reason: 'no GPU was assigned' }),
    idleGpuSeconds: idleSeconds(detail?.usage.gpu, run.gpus),
    policy: s.policy ?? detail?.usage.policy ?? [],
  };
  // Actions not seen while the job ran (it ended between two looks) are recorded now.
  await recordPolicy(deps, run, usage.policy, { setReason: false });
  run = await getRun(deps, run.id);
  const target = { type: 'run', name: run.id };
  const stored = JSON.parse(run.spec) as StoredSpec;
  if (s.state === 'completed') {
    // A finished run's checkpoints stay with it: a forced rerun of the same key starts fresh
    // instead of resuming from the end. Unfinished attempts leave theirs for the next one.
    const ckpt = checkpointDir(deps, run.run_key);
    if (existsSync(ckpt)) renameSync(ckpt, join(run.dir, 'checkpoints'));
    let outDir = join(run.dir, 'out');
    let output: { id: string; digest: string } | null = null;
    const wanted = stored.spec.outputs;
    const missing = wanted.filter((o) => !existsSync(join(outDir, o)));
    if (missing.length) {
      await endRun(deps, run, {
        ...s,
        state: 'failed',
        reason: `the job did not write its declared output(s): ${missing.join(', ')}`,
      });
      return;
    }
    if (wanted.length) {
      // Only the declared paths become the output version.
      const staged = join(run.dir, 'collect');
      rmSync(staged, { recursive: true, force: true });
      for (const o of wanted) cpSync(join(outDir, o), join(staged, o), { recursive: true });
      outDir = staged;
    }
    if (existsSync(outDir) && readdirSync(outDir).length > 0) {
      // Lineage goes through the run (inputs → run → output), recorded with the run's end below.
      const added = await addVersion(deps, {
        source: outDir,
        name: `runs/${run.name}`,
        message: `outputs of run ${run.id}`,
      });
      const v = await deps.meta.db
        .selectFrom('dataset_versions as v')
        .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
        .select(['v.id', 'v.digest'])
        .where('d.name', '=', added.dataset)
        .where('v.number', '=', added.version)
        .executeTakeFirstOrThrow();
      output = { id: v.id, digest: v.digest };
    }
    await deps.audit.audited(
      {
        action: 'run.finish',
        target,
        inputs: stored.inputs.map((i) => `sha256:${i.digest}`),
        outputs: output ? [`sha256:${output.digest}`] : [],
        params: {
          exitCode: s.exitCode,
          usage: { elapsedS: usage.elapsedS, cpuSeconds: usage.cpuSeconds, gpuSeconds: usage.gpuSeconds },
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
          const now = isoUtc(deps.clock.now());
          await addEdges(tx, [
            ...stored.inputs.map((i) => ({
              id: uuidv7(),
              src_type: 'dataset_version',
              src_id: i.versionId,
              dst_type: 'run',
              dst_id: run.id,
              relation: `input:${i.name}`,
              via_type: null,
              via_id: null,
              created_at: now,
            })),
            ...(output
              ? [
                  {
                    id: uuidv7(),
                    src_type: 'run',
                    src_id: run.id,
                    dst_type: 'dataset_version',
                    dst_id: output.id,
                    relation: 'output',
                    via_type: null,
                    via_id: null,
                    created_at: now,
                  },
                ]
              : []),
          ]);
        });
      },
    );
    return;
  }
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
  await deps.audit.audited(
    {
      action: s.state === 'cancelled' ? 'run.cancel' : 'run.fail',
      target,
      params: {
        state: status,
        exitCode: s.exitCode,
        reason: idleStop ? `${reason.code}: ${reason.message}` : message,
        ...(s.stoppedBy ? { stoppedBy: s.stoppedBy } : {}),
      },
    },
    async (commit) => {
      await commit(
        async (tx) => {
          await tx.db
            .updateTable('runs')
            .set({
              status,
              exit_code: s.exitCode,
              ended_at: s.endedAt ?? isoUtc(deps.clock.now()),
              started_at: s.startedAt ?? run.started_at,
              usage: canonicalJson(usage),
              restarts: s.restarts,
              reason: canonicalJson(reason),
            })
            .where('id', '=', run.id)
            .execute();
        },
        s.state === 'cancelled' ? undefined : { outcome: 'failed', reason: `${code}: ${message}` },
      );
    },
  );
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

/** Cancels a run: a queued one at once, a submitted one through its backend (SIGTERM, grace, SIGKILL). */
export async function cancelRun(deps: RunDeps, id: string): Promise<RunRow> {
  const run = await getRun(deps, id);
  if ((TERMINAL as readonly string[]).includes(run.status))
    throw new CairnError('USAGE', `run ${run.id} has already ended (${run.status})`);
  if (run.status === 'queued') {
    await endRun(deps, run, {
      state: 'cancelled',
      exitCode: null,
      reason: 'cancelled before it started',
      startedAt: null,
      endedAt: isoUtc(deps.clock.now()),
      restarts: 0,
      nodes: null,
    });
    return getRun(deps, run.id);
  }
  const backend = await backendFor(deps, run.backend);
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
    if ((TERMINAL as readonly string[]).includes(run.status)) return run;
    if (Date.now() > deadline)
      throw new CairnError('LOCKED', `run ${run.id} is still ${run.status}`, {
        hint: 'wait longer, or look at it with cairn run show',
      });
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
