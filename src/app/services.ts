import { createAuditService, type AuditService } from '../audit/index.js';
import { createDatasetsService, treeLoader, type DatasetsService } from '../datasets/index.js';
import {
  createComputeUsageService,
  createRunsService,
  type ComputeUsageService,
  type RunsService,
} from '../compute/index.js';
import { createLineageService, type LineageService } from '../lineage/index.js';
import { runDeps } from './compute.js';
import { createDeploymentsService, createModelsService, createReleasesService } from '../models/index.js';
import type { DeploymentsService, ModelsService, ReleasesService } from '../models/index.js';
import { deploymentDeps, releaseDeps } from './deploy-config.js';
import { createTransferService, type TransferService } from '../transfer/index.js';
import { createDataPrepService, type DataPrepService } from '../dataprep/index.js';
import { pseudonymKey } from './keys.js';
import { createAdminService, type AdminService } from '../store-admin/index.js';
import { transferDeps } from './transfer-config.js';
import { openWorkspace, type OpenOptions, type Workspace } from './workspace.js';

/**
 * The services a command (or, later, a server request) talks to: one interface per domain, built
 * here from the workspace's ports. Shells (cli/, server/) see only these interfaces, so an HTTP
 * client implementing them can stand in for the in-process services.
 */
export interface Services {
  audit: AuditService;
  datasets: DatasetsService;
  runs: RunsService;
  computeUsage: ComputeUsageService;
  lineage: LineageService;
  models: ModelsService;
  releases: ReleasesService;
  deployments: DeploymentsService;
  transfer: TransferService;
  dataprep: DataPrepService;
  admin: AdminService;
}

/**
 * Builds each service on first use: a command pays only for the domains it touches. `env` is the
 * environment deploy hooks inherit and webhook secrets are read from.
 */
export function buildServices(ws: Workspace, env: NodeJS.ProcessEnv = process.env): Services {
  const cache = new Map<keyof Services, Services[keyof Services]>();
  const once = <K extends keyof Services>(key: K, make: () => Services[K]): Services[K] => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as Services[K];
  };
  // Runs and usage share one set of compute ports (one backend of each kind per command).
  let compute: ReturnType<typeof runDeps> | null = null;
  const computeDeps = () => (compute ??= runDeps(ws, env));
  return {
    get audit() {
      return once('audit', () =>
        createAuditService({
          meta: ws.meta,
          audit: ws.audit,
          clock: ws.clock,
          origin: ws.config.audit.origin,
          store: () => ({ index: ws.index, packs: ws.packs, pool: ws.pool, load: treeLoader(ws) }),
        }),
      );
    },
    get datasets() {
      return once('datasets', () => createDatasetsService(ws));
    },
    get runs() {
      return once('runs', () => createRunsService(computeDeps()));
    },
    get computeUsage() {
      return once('computeUsage', () => createComputeUsageService(computeDeps()));
    },
    get lineage() {
      return once('lineage', () => createLineageService(ws));
    },
    get models() {
      return once('models', () => createModelsService(transferDeps(ws, env)));
    },
    get releases() {
      return once('releases', () => createReleasesService(releaseDeps(ws)));
    },
    get deployments() {
      return once('deployments', () => createDeploymentsService(deploymentDeps(ws, env)));
    },
    get transfer() {
      return once('transfer', () => createTransferService(transferDeps(ws, env)));
    },
    get dataprep() {
      return once('dataprep', () => createDataPrepService({ ...ws, pseudonymKey: () => pseudonymKey(ws.cairnDir) }));
    },
    get admin() {
      return once('admin', () => createAdminService(ws));
    },
  };
}

/** Opens the workspace for one command, hands its services to `fn`, and always closes it (signing a checkpoint). */
export async function withServices<T>(opts: OpenOptions, fn: (services: Services) => Promise<T>): Promise<T> {
  const ws = await openWorkspace(opts);
  try {
    return await fn(buildServices(ws, opts.env));
  } finally {
    await ws.close();
  }
}
