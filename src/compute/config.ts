/**
 * `.cairn/compute.json` (optional): prices, backend defaults (docs/COMPUTE.md "Configuration").
 * app/compute-config.ts reads and checks the file; compute/ only receives the result.
 */
export interface ComputeConfig {
  /** Price of one GPU-hour per backend, in the workspace's currency (default 0). */
  prices: { local: number; slurm: number };
  /** Currency label for reports. */
  currency: string;
  slurm: { partition?: string; account?: string; qos?: string };
  /** Local GPU indexes to use instead of nvidia-smi's list (e.g. [] to keep jobs off GPUs). */
  localGpus?: number[];
  /** Shared cluster cache for inputs (else CAIRN_CACHE, else the workspace cache). */
  cache?: string;
  /** Seconds between utilization samples. */
  sampleIntervalS: number;
}

export function defaultComputeConfig(): ComputeConfig {
  return { prices: { local: 0, slurm: 0 }, currency: 'USD', slurm: {}, sampleIntervalS: 1 };
}

/** The keys compute.json may hold. */
export const COMPUTE_CONFIG_KEYS = ['prices', 'currency', 'slurm', 'localGpus', 'cache', 'sampleIntervalS'] as const;
