import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { COMPUTE_CONFIG_KEYS, defaultComputeConfig, type ComputeConfig } from '../compute/index.js';

/** Reads and checks `.cairn/compute.json` (docs/COMPUTE.md "Configuration"); defaults when there is none. */
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
  const known: readonly string[] = COMPUTE_CONFIG_KEYS;
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
