// The compute domain: training runs on local or Slurm backends, their metrics, and GPU usage,
// quotas and budgets. Other folders import compute/ only through this file (lint: layers/imports).
import type { ComputeBackend, JobAccount } from './backends/port.js';
import type { SlurmBackendOptions } from './backends/slurm/slurm-backend.js';

export {
  createRunsService,
  type RunsService,
  type SpecInput,
  type Submitted,
  type WaitOptions,
} from './runs/service.js';
export { createComputeUsageService, type ComputeUsageService, type UsageReport } from './usage-service.js';
export type { RunDetails, RunImport, RunOutput, RunPlan, RunSummary } from './runs/queries.js';
export type { FindOptions, ListedRun, RunListing } from './runs/find/list.js';
export type { CompareOptions, RunComparison } from './runs/find/compare.js';
export type { RunLabel } from './runs/submit.js';
export type { ReproOptions, ReproResult, StageResult } from './pipelines/repro.js';
export type { MetricSeries, MetricSummary, SeriesBucket } from './metrics/read.js';
export type { LogsOptions } from './runs/logs.js';
export type { ProjectSettings, ProjectView } from './projects.js';
export type { UsageRow } from './usage.js';

// What the composition root (app/) gives the run service: configuration, backends, SDK paths.
export type { ComputePorts, RunDeps } from './runs/deps.js';
export { COMPUTE_CONFIG_KEYS, defaultComputeConfig, type ComputeConfig } from './config.js';
export type { ComputeBackend, JobAccount, SlurmBackendOptions };
export { LocalBackend, type LocalBackendOptions } from './backends/local/local-backend.js';
export { probeJobNamespaces } from './backends/local/namespace.js';

/** The Slurm backend, loaded only by workspaces that use it. */
export async function slurmBackend(opts: SlurmBackendOptions): Promise<ComputeBackend> {
  const { SlurmBackend } = await import('./backends/slurm/slurm-backend.js');
  return new SlurmBackend(opts);
}

// For models/ (a model version registered from a run) and the lifecycle functions in-process callers use.
export { getRun, type RunRow, type RunScope } from './runs/store.js';
export { prepareRun, type PreparedRun } from './runs/prepare.js';
export { submitRun, type SubmitResult } from './runs/submit.js';
export { cancelRun, syncRuns, waitRun } from './runs/sync.js';
export { cacheHit, isTerminal } from './runs/store.js';
export { listRuns } from './runs/queries.js';
// For transfer/ (runs travel by push and pull): what the event that ends a run vouches for, and
// how an imported run's points are written.
export {
  metricsDigest,
  paramsDigest,
  runRecord,
  type RecordedParam,
  type RecordedPoint,
} from './runs/record-digest.js';
export { writeMetricPoints } from './metrics/ingest.js';
export { applyOverrides, parseRunSpec, type RunSpec } from './run-spec/run-spec.js';

// For `cairn init`: keep the workspace out of a git project's code fingerprint.
