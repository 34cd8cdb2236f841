import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import {
  LocalBackend,
  slurmBackend,
  type ComputeBackend,
  type ComputeConfig,
  type ComputePorts,
  type RunDeps,
} from '../compute/index.js';
import { loadComputeConfig } from './compute-config.js';
import type { Workspace } from './workspace.js';

/** Builds the backend called `name` from the workspace's compute configuration: where local/Slurm is chosen. */
export async function makeBackend(cairnDir: string, name: string, cfg: ComputeConfig): Promise<ComputeBackend> {
  if (name === 'local')
    return new LocalBackend({
      stateDir: join(cairnDir, 'compute', 'local'),
      ...(cfg.localGpus ? { gpus: cfg.localGpus } : {}),
      sampleIntervalMs: cfg.sampleIntervalS * 1000,
    });
  if (name === 'slurm') return slurmBackend({ ...cfg.slurm });
  throw new CairnError('USAGE', `unknown backend ${JSON.stringify(name)} (local or slurm)`);
}

/**
 * The compute ports of a workspace: compute.json (read on first use), the input cache
 * (compute.json's `cache`, else CAIRN_CACHE, else the workspace cache), one backend of each
 * kind for the life of these ports, and the SDK paths jobs are told about.
 */
export function computePorts(ws: Pick<Workspace, 'cairnDir'>, env: NodeJS.ProcessEnv = process.env): ComputePorts {
  let config: ComputeConfig | null = null;
  const backends = new Map<string, Promise<ComputeBackend>>();
  const cfg = () => (config ??= loadComputeConfig(ws.cairnDir));
  return {
    get config() {
      return cfg();
    },
    get inputCache() {
      return cfg().cache ?? env.CAIRN_CACHE ?? join(ws.cairnDir, 'cache');
    },
    backend(name) {
      let b = backends.get(name);
      if (!b) {
        b = makeBackend(ws.cairnDir, name, cfg());
        // A failed build (unknown name, bad config) is not kept: the next call says so again.
        b.catch(() => backends.delete(name));
        backends.set(name, b);
      }
      return b;
    },
    sdk: {
      python: join(packageRoot(), 'sdk', 'python'),
      node: join(packageRoot(), 'dist', 'sdk', 'index.js'),
      ...(env.PYTHONPATH ? { inheritedPythonPath: env.PYTHONPATH } : {}),
    },
  };
}

/** A workspace with its compute ports: what the run service and in-process callers (tests, models/) take. */
export function runDeps<W extends Workspace>(ws: W, env: NodeJS.ProcessEnv = process.env): W & RunDeps {
  return { ...ws, compute: computePorts(ws, env), bookkeeping: ws.meta.db };
}
