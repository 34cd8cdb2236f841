import type { AuditService } from '../audit/index.js';
import type { ComplianceService } from '../compliance/index.js';
import type { ComputeUsageService, RunsService } from '../compute/index.js';
import type { DataPrepService } from '../dataprep/index.js';
import type { DatasetsService } from '../datasets/index.js';
import type { LineageService } from '../lineage/index.js';
import type { DeploymentsService, ModelsService, ReleasesService } from '../models/index.js';
import type { AdminService } from '../store-admin/index.js';
import type { RunDeps } from '../compute/index.js';
import type { TransferService } from '../transfer/index.js';
import { locateWorkspace, openWorkspace, type OpenOptions, type Workspace } from './workspace.js';
import type { JobOptions } from './compute.js';

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
  compliance: ComplianceService;
}

/**
 * Builds each service on first use: a command pays only for the domains it touches. `env` is the
 * environment deploy hooks inherit and webhook secrets are read from. `isolateJobs` (a team
 * server): runs' jobs do not inherit it (app/compute.ts serverJobBaseEnv).
 */
export function buildServices(ws: Workspace, env: NodeJS.ProcessEnv = process.env, opts: JobOptions = {}): Services {
  // Runs and usage share one set of compute ports (one backend of each kind per command).
  let compute: Promise<RunDeps> | null = null;
  const computeDeps = () => (compute ??= import('./compute.js').then((m) => m.runDeps(ws, env, opts)));
  const transferPorts = async () => (await import('./transfer-config.js')).transferDeps(ws, env);
  return {
    audit: lazy(async () => {
      const [{ createAuditService }, { treeLoader }] = await Promise.all([
        import('../audit/index.js'),
        import('../datasets/index.js'),
      ]);
      return createAuditService({
        meta: ws.meta,
        audit: ws.audit,
        clock: ws.clock,
        origin: ws.config.audit.origin,
        witnessing: ws.witnessing,
        rotateKey: async (next) => (await import('./keys.js')).rotateAuditKey(ws.cairnDir, ws.audit, next, env),
        store: () => ({ index: ws.index, packs: ws.packs, pool: ws.pool, load: treeLoader(ws) }),
      });
    }),
    datasets: lazy(async () => (await import('../datasets/index.js')).createDatasetsService(ws)),
    runs: lazy(async () => (await import('../compute/index.js')).createRunsService(await computeDeps())),
    computeUsage: lazy(async () =>
      (await import('../compute/index.js')).createComputeUsageService(await computeDeps()),
    ),
    lineage: lazy(async () => (await import('../lineage/index.js')).createLineageService(ws)),
    models: lazy(async () => (await import('../models/index.js')).createModelsService(await transferPorts())),
    releases: lazy(async () => {
      const [models, config] = await Promise.all([import('../models/index.js'), import('./deploy-config.js')]);
      return models.createReleasesService(config.releaseDeps(ws, env));
    }),
    deployments: lazy(async () => {
      const [models, config] = await Promise.all([import('../models/index.js'), import('./deploy-config.js')]);
      return models.createDeploymentsService(config.deploymentDeps(ws, env));
    }),
    transfer: lazy(async () => {
      const [transfer, config] = await Promise.all([import('../transfer/index.js'), import('./transfer-config.js')]);
      const ports = await transferPorts();
      return config.withServerImport(transfer.createTransferService(ports), ports.remotes, env);
    }),
    dataprep: lazy(async () => {
      const [{ createDataPrepService }, { pseudonymKey }] = await Promise.all([
        import('../dataprep/index.js'),
        import('./keys.js'),
      ]);
      return createDataPrepService({ ...ws, pseudonymKey: () => pseudonymKey(ws.cairnDir) });
    }),
    admin: lazy(async () => (await import('../store-admin/index.js')).createAdminService(ws)),
    compliance: lazy(async () => {
      const [{ createComplianceService }, lineage, admin] = await Promise.all([
        import('../compliance/index.js'),
        import('../lineage/index.js'),
        import('../store-admin/index.js'),
      ]);
      return createComplianceService({
        ...(await transferPorts()),
        lineage: lineage.createLineageService(ws),
        admin: admin.createAdminService(ws),
      });
    }),
  };
}

/** A service whose methods all return promises. */
type AsyncService<T> = { [K in keyof T]: (...args: never[]) => Promise<unknown> };

/**
 * A service built on its first call. Start-up time is part of every command's budget
 * (`cairn data status` in 0.3 s), so a command loads only the domains it calls: each domain's
 * code is imported when one of its methods is first used, and never otherwise.
 */
function lazy<T extends AsyncService<T>>(make: () => Promise<T>): T {
  let made: Promise<T> | null = null;
  const methods = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy({} as T, {
    get(_target, name) {
      // Not a thenable, and nothing for symbol lookups (inspection, coercion): a service handed to
      // `await` or Promise.resolve must stay itself instead of loading its domain and failing.
      if (name === 'then' || typeof name === 'symbol') return undefined;
      let m = methods.get(name);
      if (!m) {
        m = async (...args: unknown[]) => {
          const service = (await (made ??= make())) as unknown as Record<
            PropertyKey,
            (...a: unknown[]) => Promise<unknown>
          >;
          const method = service[name];
          if (typeof method !== 'function') throw new TypeError(`service has no method ${String(name)}`);
          return method.apply(service, args);
        };
        methods.set(name, m);
      }
      return m;
    },
  });
}

/**
 * Hands `fn` the services one command acts on, and always closes them (a workspace signs a
 * checkpoint). The target: the server in CAIRN_SERVER; else the workspace here (or in
 * CAIRN_WORKSPACE); else the server `cairn login` chose; else WORKSPACE_NOT_FOUND.
 */
export async function withServices<T>(opts: OpenOptions, fn: (services: Services) => Promise<T>): Promise<T> {
  const env = opts.env ?? process.env;
  if (env.CAIRN_SERVER || !hasWorkspace(opts)) {
    const { currentSession } = await import('./remote/credentials.js');
    const session = currentSession(env);
    if (session) return (await import('./remote/session.js')).withRemoteServices(session, env, fn);
  }
  const ws = await openWorkspace(opts);
  try {
    return await fn(buildServices(ws, opts.env));
  } finally {
    await ws.close();
  }
}

function hasWorkspace(opts: OpenOptions): boolean {
  try {
    locateWorkspace(opts);
    return true;
  } catch {
    return false;
  }
}
