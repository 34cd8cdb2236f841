import {
  metricCurves,
  metricSeries,
  metricSummaries,
  SeriesCache,
  type MetricSeries,
  type MetricSummary,
} from '../metrics/read.js';
import type { RunDeps } from './deps.js';
import { fileTail, lastLines, logFile, streamLogs, type LogsOptions } from './logs.js';
import { prepareRun } from './prepare.js';
import {
  listRuns,
  planRun,
  runDetails,
  runOutputs,
  summary,
  type RunDetails,
  type RunOutput,
  type RunPlan,
  type RunSummary,
} from './queries.js';
import { getRun, type RunRow, type RunScope } from './store.js';
import { submitRun, type RunLabel, type SubmitResult } from './submit.js';
import { repro, type ReproOptions, type ReproResult } from '../pipelines/repro.js';
import { drawDag, readPipeline } from '../pipelines/pipeline.js';
import { compareRuns, type CompareOptions, type RunComparison } from './find/compare.js';
import { findRuns, type FindOptions, type RunListing } from './find/list.js';
import { cancelRun, syncRuns, waitRun } from './sync.js';
import { CairnError } from '../../core/errors.js';
import { runFields } from './find/names.js';

/** A spec to run, as `cairn run` and `cairn run plan` take it. */
export interface SpecInput {
  /** Path of the spec file (default cairn.yaml). */
  spec: string;
  sets?: string[];
  backend?: 'local' | 'slurm';
  force?: boolean;
  /** The run's human name (generated from its id when absent), tags and note. */
  label?: RunLabel;
}

export interface Submitted {
  outcome: SubmitResult['outcome'];
  run: RunSummary;
  runKey: string;
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  /** Sees the run after each look at its backend. */
  onTick?(run: RunSummary): void;
  /** Receives the job's output as it is written (stdout and stderr), for a foreground `cairn run`. */
  onOutput?(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
}

/** What `cairn run …` (and a team server) can ask of runs. Every method returns plain view objects. */
export interface RunsService {
  /** Records a run and starts it when it can (or reuses a finished identical one). */
  submit(input: SpecInput): Promise<Submitted>;
  /** What `submit` would do, decided without starting anything. */
  plan(input: SpecInput): Promise<RunPlan>;
  list(opts?: {
    project?: string;
    projects?: readonly string[];
    status?: string;
    limit?: number;
  }): Promise<RunSummary[]>;
  /** Runs filtered, sorted and cut, with chosen params and metrics as columns (`cairn run ls`). */
  find(opts: FindOptions): Promise<RunListing>;
  /** Runs side by side: params that differ, metrics, durations and GPU-hours (`cairn run compare`). */
  compare(refs: string[], opts?: CompareOptions): Promise<RunComparison>;
  /** A run brought up to date with its backend. */
  show(id: string): Promise<RunDetails>;
  /**
   * A run as recorded, without asking its backend. With `scope.projects`, the reference resolves
   * among those projects' runs only (getRun).
   */
  details(id: string, scope?: RunScope): Promise<RunDetails>;
  metrics(id: string): Promise<{ id: string; metrics: MetricSummary[] }>;
  metricSeries(id: string, name: string, buckets: number): Promise<{ id: string } & MetricSeries>;
  /**
   * One metric's curve for each of several runs, downsampled by the database (the web UI's
   * compare overlays 100 runs): a run without the metric gets `points: 0` and no buckets. `x`
   * 'time' buckets by time even where the metric has steps.
   */
  curves(
    ids: string[],
    name: string,
    buckets: number,
    x?: 'step' | 'time',
  ): Promise<Array<{ id: string } & MetricSeries>>;
  /** The names of params and metrics runs have recorded (columns and axes to choose from). */
  fields(opts?: { project?: string; projects?: readonly string[] }): Promise<{ params: string[]; metrics: string[] }>;
  logs(id: string, opts: LogsOptions): Promise<void>;
  /** Cancels a run; with `wait`, returns once it has stopped. */
  cancel(id: string, opts?: { wait?: boolean }): Promise<RunSummary>;
  wait(id: string, opts?: WaitOptions): Promise<RunDetails>;
  /** Runs a pipeline's stale stages (`cairn repro`), writing cairn.lock. */
  repro(file: string, opts?: ReproOptions): Promise<ReproResult>;
  /** A pipeline's stages as a graph (`cairn dag`). */
  dag(
    file: string,
    format: 'text' | 'mermaid' | 'dot',
  ): Promise<{
    pipeline: string;
    stages: Array<{ name: string; deps: string[]; inputs: Record<string, string> }>;
    drawing: string;
  }>;
  /** The last lines of a run's stdout or stderr ('' when it wrote none). */
  tail(id: string, opts: { stream: 'stdout' | 'stderr'; lines: number }): Promise<string>;
  /** The machine-readable reason a run waits, was refused or ended as it did. */
  why(id: string): Promise<{ id: string; status: string; reason: unknown }>;
  /** The dataset versions runs outside `exceptProjects` wrote as their outputs (what a team server hides from readers of other projects). */
  outputs(opts: { exceptProjects: readonly string[] }): Promise<RunOutput[]>;
}

/** How long `cancel` waits for a job to stop after its SIGTERM, grace period and SIGKILL. */
const CANCEL_WAIT_MS = 10 * 60_000;

export function createRunsService(deps: RunDeps): RunsService {
  const prepare = (i: SpecInput) =>
    prepareRun(deps, i.spec, { sets: i.sets ?? [], ...(i.backend ? { backend: i.backend } : {}) });
  const sync = sharedSync(deps);
  const synced = async (id: string) => {
    // Points a running job logged, or an end it reached, since the last look count too.
    await sync();
    return getRun(deps, id);
  };
  const curveCache = new SeriesCache();
  return {
    async submit(input) {
      const p = await prepare(input);
      const r = await submitRun(deps, p, {
        force: input.force === true,
        ...(input.label ? { label: input.label } : {}),
      });
      return { outcome: r.outcome, run: summary(r.run), runKey: p.key };
    },
    plan: async (input) => planRun(deps, await prepare(input), input.force === true),
    async list(opts = {}) {
      await sync();
      return listRuns(deps, opts);
    },
    async find(opts) {
      await sync();
      return findRuns(deps, opts);
    },
    async compare(refs, opts = {}) {
      await sync();
      return compareRuns(deps, refs, opts);
    },
    show: async (id) => runDetails(deps, await synced(id)),
    details: async (id, scope) => runDetails(deps, await getRun(deps, id, scope)),
    async metrics(id) {
      const r = await synced(id);
      return { id: r.id, metrics: await metricSummaries(deps.meta.db, r.id) };
    },
    async metricSeries(id, name, buckets) {
      const r = await synced(id);
      return { id: r.id, ...(await metricSeries(deps.meta.db, r.id, name, buckets)) };
    },
    curves: (ids, name, buckets, x) => curvesOf(deps, sync, curveCache, ids, name, buckets, x),
    fields: (opts = {}) => runFields(deps.meta.db, opts.project, opts.projects),
    logs: (id, opts) => streamLogs(deps, id, opts),
    async cancel(id, opts = {}) {
      const c = await cancelRun(deps, id);
      return summary(opts.wait === false ? c : await waitRun(deps, c.id, { timeoutMs: CANCEL_WAIT_MS }));
    },
    async wait(id, opts = {}) {
      const { onTick, onOutput, ...rest } = opts;
      const dir = (await getRun(deps, id)).dir;
      const tails = onOutput
        ? (['stdout', 'stderr'] as const).map((s) => fileTail(logFile(dir, s), (c) => onOutput(c, s)))
        : [];
      const tick = (r: RunRow) => {
        for (const t of tails) t();
        onTick?.(summary(r));
      };
      return runDetails(deps, await waitRun(deps, id, { ...(onOutput ? { pollMs: 200 } : {}), ...rest, onTick: tick }));
    },
    async repro(file, opts = {}) {
      await syncRuns(deps);
      return repro(deps, file, opts);
    },
    async dag(file, format) {
      const p = readPipeline(file);
      return {
        pipeline: p.path,
        stages: p.stages.map((s) => ({ name: s.name, deps: s.deps, inputs: s.spec.inputs })),
        drawing: drawDag(p, format),
      };
    },
    tail: async (id, opts) => lastLines(logFile((await getRun(deps, id)).dir, opts.stream), opts.lines),
    outputs: (opts) => runOutputs(deps, opts.exceptProjects),
    why: async (id) => whyOf(await synced(id)),
  };
}

function whyOf(r: { id: string; status: string; reason: string | null }) {
  return { id: r.id, status: r.status, reason: r.reason ? (JSON.parse(r.reason) as unknown) : null };
}

/**
 * Asking the backends about every active run is the costly part of a listing: a server answering
 * many listings at once (or a UI polling) shares one sync among the requests of one turn of the
 * event loop. The shared sync starts after every one of them asked, so none is answered from a
 * look older than its own request.
 */
function sharedSync(deps: RunDeps): () => Promise<void> {
  let next: Promise<void> | null = null;
  return () =>
    (next ??= new Promise<void>((r) => setImmediate(r)).then(() => {
      // Whoever asks from now on waits for a later sync: this one may have started before they asked.
      next = null;
      return syncRuns(deps);
    }));
}

/** Curves one request may ask for: the compare page's ceiling, far above what a chart can show apart. */
const MAX_CURVES = 500;

async function curvesOf(
  deps: RunDeps,
  sync: () => Promise<void>,
  cache: SeriesCache,
  ids: string[],
  name: string,
  buckets: number,
  x: 'step' | 'time' = 'step',
) {
  if (ids.length > MAX_CURVES)
    throw new CairnError('USAGE', `at most ${MAX_CURVES} runs' curves at once, not ${ids.length}`);
  await sync();
  const runs: string[] = [];
  for (const ref of ids) runs.push((await getRun(deps, ref)).id);
  return metricCurves(deps.meta.db, runs, name, buckets, cache, x);
}
