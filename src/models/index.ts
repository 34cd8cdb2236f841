// The models domain: registry, aliases and policies, evaluation gates, releases, deployments.
// Other folders import it only through this file (lint: layers/imports): three service
// interfaces (models, releases, deployments), the view types they return, and the pure helpers
// a shell needs to print them.
import type { RemotesPort } from '../transfer/index.js';
import type { DatasetDeps } from '../datasets/index.js';
import { approve, authorsOf, history, promote, removeAlias, rollback, setPolicy, type AliasPolicy } from './aliases.js';
import { resolveModel } from './registry.js';
import type { ModelCard } from './card.js';
import { doraMetrics, type DoraReport } from './deployments/dora.js';
import { deployModel } from './deployments/deploy.js';
import { flushOutbox, type FlushItem } from './deployments/flush.js';
import type { DeployDeps, DeployOptions, DeploymentView } from './deployments/types.js';
import { listDeployments } from './deployments/views.js';
import { compareModels } from './evaluation/compare.js';
import { evaluateModel, type EvaluationReport, type SuiteSource } from './evaluation/evaluate.js';
import type { EvalSuite } from './evaluation/suite.js';
import { fetchLocked, lockModel, type LockFile } from './lock.js';
import {
  listModels,
  modelVersions,
  registerModel,
  verifyModel,
  type ModelCheck,
  type RegisterInput,
} from './registry.js';
import { CairnError } from '../core/errors.js';
import { createRelease, type ReleaseDeps } from './releases/create.js';
import { cardOf, showModel, type ModelVersionDetail } from './views.js';
import { evaluationsOf, readiness, type StoredEvaluation } from './readiness.js';

export type { AliasPolicy, DeployDeps, DeployOptions, DeploymentView, DoraReport, EvalSuite, EvaluationReport };
export type { FlushItem, LockFile, ModelCard, ModelCheck, ModelVersionDetail, RegisterInput, ReleaseDeps };
export type ModelSummary = Awaited<ReturnType<typeof listModels>>[number];
export type ModelVersionSummary = Awaited<ReturnType<typeof modelVersions>>[number];
export type AliasHistory = Awaited<ReturnType<typeof history>>;
export type ModelComparison = Awaited<ReturnType<typeof compareModels>>;
export type Readiness = Awaited<ReturnType<typeof readiness>>;
export type { StoredEvaluation };
export interface Registered {
  ref: string;
  digest: string;
  format: string;
  card: ModelCard;
}
export interface Fetched {
  name: string;
  digest: string;
  dir: string;
  files: number;
  pulled: boolean;
}
export interface ReleaseResult {
  dir: string;
  model: string;
  digest: string;
  keyid: string;
  files: number;
  proofs: number;
}
export interface OutboxFlush {
  flushed: FlushItem[];
  waiting: Array<{ delivery: string; deployment: string; nextAttemptAt: string }>;
}

/** What `cairn model …` and `cairn fetch` (and a team server) can ask of the registry. */
export interface ModelsService {
  register(input: RegisterInput): Promise<Registered>;
  list(): Promise<ModelSummary[]>;
  versions(name: string): Promise<ModelVersionSummary[]>;
  show(ref: string): Promise<ModelVersionDetail>;
  /**
   * A version's ref pinned to its number, and whoever registered it or started the run that
   * trained it: what separation of duties checks, without the rest of `show`.
   */
  authors(ref: string): Promise<{ ref: string; authors: string[] }>;
  card(ref: string): Promise<ModelCard>;
  verify(ref: string): Promise<ModelCheck>;
  setPolicy(name: string, alias: string, policy: AliasPolicy): Promise<AliasPolicy>;
  approve(ref: string, alias: string): Promise<{ ref: string; alias: string; approver: string }>;
  /** `how`: 'set' for `model alias set` (same checks, recorded as such). */
  promote(
    ref: string,
    alias: string,
    how?: 'promote' | 'set',
  ): Promise<{ ref: string; alias: string; previous: string | null }>;
  removeAlias(name: string, alias: string): Promise<void>;
  /**
   * Obeys the alias policy; `override` (a reason) puts back a version that does not meet it, audited.
   * `expect` (name@vN): refuse with ALIAS_MOVED unless that is the version it returns to.
   */
  rollback(
    name: string,
    alias: string,
    opts?: { override?: string; expect?: string },
  ): Promise<{ alias: string; from: string | null; to: string; overridden: string[] }>;
  history(name: string, opts?: { alias?: string; at?: Date }): Promise<AliasHistory>;
  /** A version's evaluations with their full reports (verdicts, intervals, slices). */
  evaluations(ref: string): Promise<StoredEvaluation[]>;
  /** The alias's policy and the conditions `ref` does not meet for it yet (empty: promotable). */
  readiness(ref: string, alias: string): Promise<Readiness>;
  lock(ref: string, lockFile: string): Promise<LockFile>;
  fetch(lockFile: string, dir: string, opts?: { remote?: string }): Promise<Fetched[]>;
  /** `onProgress`: the batch prediction, then each check (the CLI draws it as a progress bar). */
  evaluate(
    ref: string,
    opts: SuiteSource & { data: string; onProgress?: (done: number, total: number, note: string) => void },
  ): Promise<EvaluationReport>;
  compare(
    refs: readonly string[],
    opts: { suite: EvalSuite; data: string; metrics: string[] },
  ): Promise<ModelComparison>;
}

export function createModelsService(deps: DatasetDeps & { cairnDir: string; remotes: RemotesPort }): ModelsService {
  return {
    register: (input) => registerModel(deps, input),
    list: () => listModels(deps),
    versions: (name) => modelVersions(deps, name),
    show: (ref) => showModel(deps, ref),
    authors: async (ref) => {
      const m = await resolveModel(deps, ref);
      return { ref: m.ref, authors: await authorsOf(deps, m.version) };
    },
    card: (ref) => cardOf(deps, ref),
    verify: (ref) => verifyModel(deps, ref),
    setPolicy: (name, alias, policy) => setPolicy(deps, name, alias, policy),
    approve: (ref, alias) => approve(deps, ref, alias),
    promote: (ref, alias, how) => promote(deps, ref, alias, how),
    removeAlias: (name, alias) => removeAlias(deps, name, alias),
    rollback: (name, alias, opts) => rollback(deps, name, alias, opts),
    history: (name, opts) => history(deps, name, opts),
    evaluations: (ref) => evaluationsOf(deps, ref),
    readiness: (ref, alias) => readiness(deps, ref, alias),
    lock: (ref, file) => lockModel(deps, ref, file),
    fetch: (file, dir, opts) => fetchLocked(deps, file, dir, opts),
    evaluate: (ref, opts) => evaluateModel(deps, ref, opts),
    compare: (refs, opts) => compareModels(deps, refs, opts),
  };
}

/** What `cairn release create` can ask; verifying a bundle needs no workspace (verifyReleaseBundle below). */
export interface ReleasesService {
  create(ref: string, outDir: string): Promise<ReleaseResult>;
  /**
   * Hands releases over to a new release key (a new key file, or key pairs already in a PKCS #11
   * token): a `keys.rotate` event whose transition the old key signs and the new one countersigns.
   */
  rotateKey(next: ReleaseKeyRotationRequest): Promise<ReleaseKeyRotationView>;
}

export interface ReleaseKeyRotationRequest {
  pkcs11?: { module: string; tokenLabel: string; keyLabel: string; omsKeyLabel: string; pinEnv: string };
}

export interface ReleaseKeyRotationView {
  /** keyids of the retiring and the new release key. */
  from: string;
  to: string;
  /** The index of the `keys.rotate` event. */
  index: number;
  custody: 'file' | 'pkcs11';
  /** True when this call finished a rotation an earlier one had recorded but not put in place. */
  resumed: boolean;
  /** The chain file to publish beside release.pub (workspace-relative). */
  chainFile: string;
}

export function createReleasesService(deps: ReleaseDeps): ReleasesService {
  return {
    create: (ref, outDir) => createRelease(deps, ref, outDir),
    rotateKey: async (next) => {
      if (!deps.rotateReleaseKey)
        throw new CairnError('UNSUPPORTED', 'the release key of this workspace cannot be rotated from here');
      return deps.rotateReleaseKey(next);
    },
  };
}

/** What `cairn deploy …` and `cairn dora` can ask. */
export interface DeploymentsService {
  /** Resolves with the deployment whatever its status; the caller decides what a failure means. */
  deploy(ref: string, env: string, opts?: DeployOptions): Promise<DeploymentView>;
  list(filter?: { env?: string; model?: string; limit?: number }): Promise<DeploymentView[]>;
  flushOutbox(opts?: DeployOptions): Promise<OutboxFlush>;
  dora(opts?: { model?: string; since?: string; until?: string }): Promise<DoraReport>;
}

export function createDeploymentsService(deps: DeployDeps): DeploymentsService {
  return {
    deploy: (ref, env, opts) => deployModel(deps, ref, env, opts),
    list: (filter) => listDeployments(deps, filter),
    flushOutbox: (opts) => flushOutbox(deps, opts),
    dora: (opts) => doraMetrics(deps, opts),
  };
}

// Pure helpers the shells use to read input and print results.
export { cardMarkdown } from './card.js';
export { evaluationHtml, evaluationJUnit, readEvalSuite, suiteOf } from './evaluation/evaluate.js';
export type { SuiteSource } from './evaluation/evaluate.js';
export { verifyReleaseBundle, type ReleaseVerifyReport, type SigningKey } from './releases/index.js';
export {
  formatReleaseKeyChain,
  parseReleaseKeyChain,
  releaseKeyRef,
  signReleaseKeyTransition,
  type RecordedTransition,
} from './releases/index.js';
export { DEPLOY_CONFIG, parseDeployConfig, type DeployConfig, type EnvConfig } from './deployments/config.js';
