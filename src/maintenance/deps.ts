import type { DatasetDeps } from '../datasets/index.js';

export type MaintenanceDeps = DatasetDeps;
