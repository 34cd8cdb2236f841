import { spawnSync } from 'node:child_process';

export interface GpuSample {
  index: number;
  util: number;
  memMb: number;
}

/** GPUs nvidia-smi reports, or none when it is absent: Cairn never invents a GPU. */
export function detectGpus(): number[] {
  const r = spawnSync('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0 || !r.stdout) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n));
}

/** One utilization sample of the given GPUs, or null when nvidia-smi cannot be run. */
export function sampleGpus(indexes: readonly number[]): GpuSample[] | null {
  const r = spawnSync(
    'nvidia-smi',
    ['--query-gpu=index,utilization.gpu,memory.used', '--format=csv,noheader,nounits'],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (r.error || r.status !== 0) return null;
  const want = new Set(indexes);
  return r.stdout
    .split('\n')
    .map((l) => l.split(',').map((x) => Number(x.trim())))
    .filter((p) => p.length === 3 && p.every(Number.isFinite) && want.has(p[0]!))
    .map(([index, util, memMb]) => ({ index: index!, util: util!, memMb: memMb! }));
}
