import type { DatasetDeps } from '../datasets/deps.js';

export type MaintenanceDeps = DatasetDeps;
