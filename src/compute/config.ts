import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';

/** `.cairn/compute.json` (optional): prices, backend defaults (docs/COMPUTE.md "Configuration"). */
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

export function loadComputeConfig(cairnDir: string): ComputeConfig {
  const path = join(cairnDir, 'compute.json');
  let raw: Partial<ComputeConfig>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<ComputeConfig>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaultComputeConfig();
    throw new CairnError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`);
  }
  const d = defaultComputeConfig();
  const known = ['prices', 'currency', 'slurm', 'localGpus', 'cache', 'sampleIntervalS'];
  const unknown = Object.keys(raw).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new CairnError(
      'CONFIG_INVALID',
      `${path}: unknown key(s) ${unknown.join(', ')} (known: ${known.join(', ')})`,
    );
  const prices = { ...d.prices, ...(raw.prices ?? {}) };
  if (![prices.local, prices.slurm].every((p) => typeof p === 'number' && p >= 0))
    throw new CairnError('CONFIG_INVALID', `${path}: prices must be numbers ≥ 0`);
  return { ...d, ...raw, prices, slurm: { ...(raw.slurm ?? {}) } };
}
