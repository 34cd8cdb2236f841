import type { DatasetDeps } from '../datasets/index.js';

export type StoreAdminDeps = DatasetDeps;
