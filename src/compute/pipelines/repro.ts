import { canonicalJson } from '../../core/canonical-json.js';
import type { RunDeps } from '../runs/deps.js';
import { prepareSpec, type PreparedRun } from '../runs/prepare.js';
import { cacheHit, getRun, isTerminal, type RunRow } from '../runs/store.js';
import { submitRun } from '../runs/submit.js';
import { syncRuns } from '../runs/sync.js';
import type { CodeFingerprint } from '../code/fingerprint.js';
import { writeStageLock, type StageLock } from './lock.js';
import { readPipeline, stageInputName, stagesFor, type Stage } from './pipeline.js';

export interface StageResult {
  stage: string;
  /** up-to-date: a finished run has its run key (nothing ran); ran / failed: a run was submitted; skipped: a stage it needs failed. */
  status: 'up-to-date' | 'ran' | 'failed' | 'skipped';
  run: { id: string; name: string | null; status: string } | null;
  runKey: string | null;
  /** The stage's output version (`runs/<stage>@vN`), what the stages after it read. */
  output: string | null;
  reason?: string;
}

export interface ReproResult {
  pipeline: string;
  lock: string | null;
  stages: StageResult[];
}

export interface ReproOptions {
  target?: string;
  /** Run every stage even when a finished run has its run key. */
  force?: boolean;
  /** Only say what is stale: nothing is submitted and the lock is not written. */
  dryRun?: boolean;
  onStage?(r: StageResult): void;
  pollMs?: number;
}

interface Ctx {
  deps: RunDeps;
  path: string;
  opts: ReproOptions;
  codeCache: Map<string, CodeFingerprint>;
  results: Map<string, StageResult>;
  prepared: Map<string, PreparedRun>;
}

/**
 * `cairn repro [stage]` (docs/PIPELINES.md): the stages in dependency order, each prepared with
 * its upstream stages' output versions as inputs. A stage whose run key a finished run already
 * has is up to date (nothing runs, nothing is recorded); the others are submitted as normal,
 * audited runs — independent ones at the same time — and awaited by one polling loop (a single
 * writer of their ends). The pinned inputs, code and outputs of every stage go to cairn.lock.
 */
export async function repro(deps: RunDeps, file: string, opts: ReproOptions = {}): Promise<ReproResult> {
  const pipeline = readPipeline(file);
  const stages = stagesFor(pipeline, opts.target);
  const ctx: Ctx = { deps, path: pipeline.path, opts, codeCache: new Map(), results: new Map(), prepared: new Map() };
  const inFlight = new Map<string, string>(); // stage → run id
  const done = (s: Stage) => ctx.results.has(s.name);
  for (;;) {
    for (const s of stages) {
      if (done(s) || inFlight.has(s.name) || !s.deps.every((d) => ctx.results.has(d))) continue;
      const started = await startStage(ctx, s);
      if (started) inFlight.set(s.name, started);
    }
    if (!inFlight.size) break;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
    await syncRuns(deps);
    for (const [stage, id] of inFlight) {
      const run = await getRun(deps, id);
      if (!isTerminal(run.status)) continue;
      inFlight.delete(stage);
      finish(ctx, stage, await resultOf(ctx, stage, run, run.status === 'completed' ? 'ran' : 'failed'));
    }
  }
  const list = stages.map((s) => ctx.results.get(s.name)!);
  const lock = opts.dryRun ? null : await lockEntries(ctx, list);
  return { pipeline: pipeline.path, lock, stages: list };
}

function finish(ctx: Ctx, stage: string, r: StageResult): void {
  ctx.results.set(stage, r);
  ctx.opts.onStage?.(r);
}

/** Decides one ready stage: skipped, up to date, or submitted (returns the run id to await). */
async function startStage(ctx: Ctx, s: Stage): Promise<string | null> {
  const upstream = s.deps.map((d) => ctx.results.get(d)!);
  // A dry run: a stage after one that would run would run too (its input would change).
  const stale = upstream.find((u) => ctx.opts.dryRun && u.status === 'ran' && !u.run);
  if (stale) {
    const reason = `stale: stage ${stale.stage} would run first`;
    finish(ctx, s.name, { stage: s.name, status: 'ran', run: null, runKey: null, output: null, reason });
    return null;
  }
  const broken = upstream.find((u) => u.status === 'failed' || u.status === 'skipped' || !u.output);
  if (broken) {
    const why =
      broken.output || broken.status !== 'ran'
        ? `stage ${broken.stage} ${broken.status}`
        : `stage ${broken.stage} has no output`;
    finish(ctx, s.name, { stage: s.name, status: 'skipped', run: null, runKey: null, output: null, reason: why });
    return null;
  }
  const inputs = { ...s.spec.inputs };
  for (const u of upstream) inputs[stageInputName(u.stage)] = u.output!;
  let p: PreparedRun;
  try {
    p = await prepareSpec(
      ctx.deps,
      { ...s.spec, inputs },
      { path: ctx.path, digest: s.digest, codeCache: ctx.codeCache },
    );
  } catch (err) {
    finish(ctx, s.name, {
      stage: s.name,
      status: 'failed',
      run: null,
      runKey: null,
      output: null,
      reason: (err as Error).message,
    });
    return null;
  }
  ctx.prepared.set(s.name, p);
  const hit = ctx.opts.force ? null : await cacheHit(ctx.deps, p.key, p.spec.project);
  if (hit) {
    finish(ctx, s.name, await resultOf(ctx, s.name, hit, 'up-to-date'));
    return null;
  }
  if (ctx.opts.dryRun) {
    finish(ctx, s.name, {
      stage: s.name,
      status: 'ran',
      run: null,
      runKey: p.key,
      output: null,
      reason: 'stale: would run',
    });
    return null;
  }
  try {
    const label = { tags: { pipeline: ctx.path.split('/').pop()!, stage: s.name } };
    const { run } = await submitRun(ctx.deps, p, { force: ctx.opts.force === true, label });
    if (isTerminal(run.status)) {
      finish(
        ctx,
        s.name,
        await resultOf(ctx, s.name, run, run.status === 'reused' || run.status === 'completed' ? 'ran' : 'failed'),
      );
      return null;
    }
    return run.id;
  } catch (err) {
    finish(ctx, s.name, {
      stage: s.name,
      status: 'failed',
      run: null,
      runKey: p.key,
      output: null,
      reason: (err as Error).message,
    });
    return null;
  }
}

async function resultOf(ctx: Ctx, stage: string, run: RunRow, status: StageResult['status']): Promise<StageResult> {
  let output: string | null = null;
  if (run.output_version_id) {
    const v = await ctx.deps.meta.db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['d.name', 'v.number'])
      .where('v.id', '=', run.output_version_id)
      .executeTakeFirst();
    if (v) output = `${v.name}@v${v.number}`;
  }
  const reason = run.reason ? (JSON.parse(run.reason) as { message?: string }).message : undefined;
  return {
    stage,
    status,
    run: { id: run.id, name: run.human_name, status: run.status },
    runKey: run.run_key,
    output,
    ...(status === 'failed' && reason ? { reason } : {}),
  };
}

/** What cairn.lock pins for each stage that has a finished run: its key, inputs, code, params and output. */
async function lockEntries(ctx: Ctx, list: StageResult[]): Promise<string | null> {
  const entries: Record<string, StageLock> = {};
  for (const r of list) {
    const p = ctx.prepared.get(r.stage);
    if (!p || !r.run || (r.status !== 'up-to-date' && r.status !== 'ran') || r.run.status === 'failed') continue;
    const run = await getRun(ctx.deps, r.run.id);
    const out = run.output_version_id
      ? await ctx.deps.meta.db
          .selectFrom('dataset_versions')
          .select('digest')
          .where('id', '=', run.output_version_id)
          .executeTakeFirst()
      : undefined;
    entries[r.stage] = {
      run: run.id,
      runKey: `sha256:${p.key}`,
      command: p.command,
      code: canonicalJson(p.keyInput.code) === canonicalJson({ commit: null, dirty: null }) ? null : p.keyInput.code,
      inputs: Object.fromEntries(p.inputs.map((i) => [i.name, { ref: i.ref, digest: `sha256:${i.digest}` }])),
      params: p.spec.params,
      outputs: r.output && out ? { ref: r.output, digest: `sha256:${out.digest}` } : null,
    };
  }
  return writeStageLock(ctx.path, entries);
}
