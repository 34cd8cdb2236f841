import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { humanRunName, validHumanRunName } from '../../core/run-names.js';
import { isoUtc } from '../../core/time.js';
import type { WriteTx } from '../../meta/write-tx.js';
import type { RunDeps } from './deps.js';
import { dispatch } from './dispatch.js';
import type { PreparedRun } from './prepare.js';
import { budgetCheck } from './quota.js';
import {
  cacheHit,
  getRun,
  gpuSeconds,
  runDir,
  writeCodeFiles,
  type Reason,
  type RunRow,
  type StoredSpec,
} from './store.js';

/** What people call a run: a human name (generated from the id when absent), tags and a note. */
export interface RunLabel {
  name?: string;
  tags?: Record<string, string>;
  note?: string;
}

/** Checks a label before anything is recorded: names and tag keys people can type back. */
export function checkLabel(label: RunLabel): void {
  if (label.name !== undefined && !validHumanRunName(label.name))
    throw new CairnError('USAGE', `--name ${JSON.stringify(label.name)} is not a valid run name`, {
      hint: 'use up to 64 letters, digits, ".", "_" and "-", starting with a letter or digit',
    });
  for (const [k, v] of Object.entries(label.tags ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(k))
      throw new CairnError('USAGE', `--tag: ${JSON.stringify(k)} is not a valid tag key`, {
        hint: 'tag keys start with a letter and hold letters, digits, "_", "." and "-"',
      });
    if (v.length > 500) throw new CairnError('USAGE', `--tag ${k}: the value is over 500 characters`);
  }
  if (label.note !== undefined && label.note.length > 10_000)
    throw new CairnError('USAGE', '--note is over 10,000 characters');
}

export interface SubmitResult {
  run: RunRow;
  /** `reused`: a cache hit; `refused`: over budget; `queued`: waiting for quota or resources; else submitted. */
  outcome: 'reused' | 'refused' | 'queued' | 'submitted';
}

/** A new run's row (status `queued`) and the params of its audit event: pure, from the prepared run. */
export function plannedSubmission(
  p: PreparedRun,
  at: { id: string; now: string; actor: string; dir: string },
  label: RunLabel = {},
): { row: RunRow; params: Record<string, unknown>; inputs: string[] } {
  const humanName = label.name ?? humanRunName(at.id);
  const tags = Object.fromEntries(Object.entries(label.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const stored: StoredSpec = {
    spec: p.spec,
    specPath: p.specPath,
    codeDir: p.codeDir,
    command: p.command,
    inputs: p.inputs,
    keyInput: p.keyInput,
  };
  const row: RunRow = {
    id: at.id,
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
    created_at: at.now,
    created_by: at.actor,
    started_at: null,
    ended_at: null,
    restarts: 0,
    code_commit: p.headCommit,
    code_dirty: p.keyInput.code.dirty,
    env_digest: p.keyInput.environment.lockfile,
    dir: at.dir,
    output_version_id: null,
    reused_from: null,
    usage: canonicalJson({}),
    metrics_offset: 0,
    human_name: humanName,
    tags: canonicalJson(tags),
    note: label.note ?? null,
  };
  const params = {
    runName: p.spec.name,
    runKey: p.key,
    project: p.spec.project,
    backend: p.spec.backend,
    command: p.command,
    codeCommit: p.headCommit,
    codeDirty: p.keyInput.code.dirty,
    params: p.spec.params,
    resources: p.spec.resources,
    specDigest: `sha256:${p.specDigest}`,
    humanName,
    tags,
    ...(label.note !== undefined ? { note: label.note } : {}),
  };
  return { row, params, inputs: p.inputs.map((i) => `sha256:${i.digest}`) };
}

/** The row of a run that reuses `hit` instead of executing (a cache hit). */
export function reusedRow(base: RunRow, hit: RunRow, now: string): RunRow {
  return {
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
}

/**
 * Records a run and starts it when it can: a finished identical run is reused (unless
 * `force`), a run that would exceed its project's budget is refused, a run over its project's
 * GPU quota (or the machine's free resources) waits in the queue with a reason; otherwise its
 * job is submitted.
 */
export async function submitRun(
  deps: RunDeps,
  p: PreparedRun,
  opts: { force?: boolean; label?: RunLabel } = {},
): Promise<SubmitResult> {
  checkLabel(opts.label ?? {});
  const now = isoUtc(deps.clock.now());
  const id = uuidv7(deps.clock.now().getTime());
  const planned = plannedSubmission(p, { id, now, actor: deps.actor().id, dir: runDir(deps, id) }, opts.label);
  const event = { action: 'run.submit' as const, target: { type: 'run', name: id }, inputs: planned.inputs };
  const insert = (row: RunRow) => async (tx: WriteTx) => {
    await tx.db.insertInto('runs').values(row).execute();
    await insertParams(tx, id, p.spec.params);
  };

  const hit = opts.force ? null : await cacheHit(deps, p.key, p.spec.project);
  if (hit) {
    const row = reusedRow(planned.row, hit, now);
    const params = { ...planned.params, reusedFrom: hit.id, savedGpuSeconds: gpuSeconds(hit) };
    await deps.audit.audited({ ...event, action: 'run.reuse', params }, (commit) => commit(insert(row)));
    return { run: row, outcome: 'reused' };
  }

  const { gpus, timeLimitS } = p.spec.resources;
  const budget = await budgetCheck(deps, p.spec.project, gpus, timeLimitS, deps.clock.now());
  if (budget) {
    const row: RunRow = { ...planned.row, status: 'refused', reason: canonicalJson(budget), ended_at: now };
    const denied = { outcome: 'denied' as const, reason: `BUDGET_EXCEEDED: ${budget.message}` };
    await deps.audit.audited({ ...event, params: planned.params }, (commit) => commit(insert(row), denied));
    throw new CairnError('BUDGET_EXCEEDED', budget.message, { data: { run: id, ...budget } });
  }

  await deps.audit.audited({ ...event, params: planned.params }, (commit) => commit(insert(planned.row)));
  writeCodeFiles(planned.row.dir, p.codeFiles);
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

async function insertParams(tx: WriteTx, runId: string, params: Record<string, unknown>): Promise<void> {
  const rows = Object.entries(params).map(([name, value]) => ({ run_id: runId, name, value: JSON.stringify(value) }));
  if (rows.length) await tx.db.insertInto('run_params').values(rows).execute();
}
