import { describe, expect, it } from 'vitest';
import type { JobState } from '../backends/port.js';
import { jobEnv } from './dispatch.js';
import { endUsage, failureOf, runEdges } from './end.js';

const state = (over: Partial<JobState>): JobState => ({
  state: 'failed',
  exitCode: null,
  reason: null,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:10.000Z',
  restarts: 0,
  nodes: null,
  ...over,
});

describe('run lifecycle decisions, without I/O', () => {
  it('jobEnv: the contract variables, spec vars, and a PYTHONPATH that keeps the spec’s (else the inherited) one', () => {
    const spec = { environment: { vars: { SEED: '1' } }, params: { lr: 0.1 } } as never;
    const run = { id: 'r1', name: 'train', project: 'p' };
    const paths = { dir: '/w/runs/r1', out: '/w/runs/r1/out', checkpoints: '/w/ck/k' };
    const env = jobEnv(run, spec, paths, { python: '/sdk/py', node: '/sdk/index.js', inheritedPythonPath: '/x' });
    expect(env).toEqual({
      SEED: '1',
      CAIRN_RUN_ID: 'r1',
      CAIRN_RUN_NAME: 'train',
      CAIRN_PROJECT: 'p',
      CAIRN_OUTPUT_DIR: '/w/runs/r1/out',
      CAIRN_CHECKPOINT_DIR: '/w/ck/k',
      CAIRN_METRICS_FILE: '/w/runs/r1/metrics.jsonl',
      CAIRN_PARAMS: '{"lr":0.1}',
      PYTHONPATH: '/sdk/py:/x',
      CAIRN_SDK_JS: '/sdk/index.js',
    });
    const own = { environment: { vars: { PYTHONPATH: '/mine' } }, params: {} } as never;
    expect(jobEnv(run, own, paths, { python: '/sdk/py', node: '/n' }).PYTHONPATH).toBe('/sdk/py:/mine');
    expect(jobEnv(run, spec, paths, { python: '/sdk/py', node: '/n' }).PYTHONPATH).toBe('/sdk/py');
  });

  it('endUsage: GPU-seconds from the times, and says why GPU utilization is missing', () => {
    const u = endUsage({ gpus: 2, backend: 'slurm' }, state({ usage: { cpuSeconds: 4 } }), null);
    expect(u).toEqual({
      elapsedS: 10,
      cpuSeconds: 4,
      maxRssKb: null,
      gpus: 2,
      gpuSeconds: 20,
      gpu: { available: false, reason: 'the slurm backend reports no GPU utilization for this job' },
      idleGpuSeconds: null,
      policy: [],
    });
    expect(endUsage({ gpus: 0, backend: 'local' }, state({ startedAt: null }), null)).toMatchObject({
      elapsedS: null,
      gpuSeconds: 0,
      gpu: { available: false, reason: 'no GPU was assigned' },
      idleGpuSeconds: 0,
    });
  });

  it('failureOf: each way a run ends unsuccessfully has its code, status and words', () => {
    const run = { time_limit_s: 60 };
    const none = { policy: [] };
    expect(failureOf(run, state({ exitCode: 3 }), none)).toEqual({
      status: 'failed',
      reason: { code: 'EXIT', message: 'exited with status 3' },
      eventReason: 'exited with status 3',
      outcomeReason: 'EXIT: exited with status 3',
    });
    expect(failureOf(run, state({ state: 'timeout' }), none).reason).toEqual({
      code: 'TIMEOUT',
      message: 'stopped at its time limit (60 s)',
    });
    expect(failureOf(run, state({ state: 'unknown', reason: 'gone' }), none)).toMatchObject({
      status: 'failed',
      reason: { code: 'LOST', message: 'gone' },
    });
    const stop = {
      t: '2026-01-01T00:00:09.000Z',
      action: 'stop' as const,
      detail: 'GPUs 0 under 5% for 1 s',
      policy: { thresholdPct: 5, windowS: 1, action: 'stop' as const },
      samples: [],
    };
    const idle = failureOf(run, state({ state: 'cancelled', stoppedBy: 'idle' }), { policy: [stop] });
    expect(idle.reason).toMatchObject({
      code: 'IDLE_STOP',
      message: 'the idle-GPU policy stopped the run: GPUs 0 under 5% for 1 s',
    });
    expect(idle.eventReason).toBe('IDLE_STOP: the idle-GPU policy stopped the run: GPUs 0 under 5% for 1 s');
  });

  it('runEdges: inputs → run, and run → output only when there is one', () => {
    const inputs = [{ name: 'train', ref: 'toy@v1', versionId: 'v1', digest: 'd' }];
    const shape = (es: ReturnType<typeof runEdges>) =>
      es.map((e) => [e.src_type, e.src_id, e.dst_type, e.dst_id, e.relation]);
    expect(shape(runEdges(inputs, 'r', 'v2', 'now'))).toEqual([
      ['dataset_version', 'v1', 'run', 'r', 'input:train'],
      ['run', 'r', 'dataset_version', 'v2', 'output'],
    ]);
    expect(shape(runEdges(inputs, 'r', null, 'now'))).toHaveLength(1);
  });
});
