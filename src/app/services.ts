import { createDatasetsService, type DatasetsService } from '../datasets/index.js';
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
  datasets: DatasetsService;
  transfer: TransferService;
  dataprep: DataPrepService;
  admin: AdminService;
}

/** Builds each service on first use: a command pays only for the domains it touches. */
export function buildServices(ws: Workspace, env: NodeJS.ProcessEnv = process.env): Services {
  const cache = new Map<keyof Services, Services[keyof Services]>();
  const once = <K extends keyof Services>(key: K, make: () => Services[K]): Services[K] => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as Services[K];
  };
  return {
    get datasets() {
      return once('datasets', () => createDatasetsService(ws));
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
