// Training runs through the real CLI: each command is a separate process, so a run submitted
// with --detach and finished while no `cairn` was running is exactly "Cairn killed while the
// job runs": the next command recovers its state from the backend (local files or Slurm).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { shareSlurmCluster, slurmEnv, slurmFacts } from '../../src/test-support/slurm.js';
import { useTempDirs } from '../../src/test-support/temp.js';

function ok<T>(cwd: string, args: string[], env?: NodeJS.ProcessEnv): T {
  const r = cli([...args, '--json'], { cwd, ...(env ? { env } : {}) });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

describe('cairn run (CLI)', () => {
  const tmp = useTempDirs();
  const setup = () => {
    const cwd = tmp();
    ok(cwd, ['init']);
    writeFileSync(join(cwd, 'd.csv'), 'x\n1\n');
    ok(cwd, ['data', 'add', 'd.csv', '--name', 'toy']);
    const spec = (name: string, command: string, extra = '', gpus = 0) => {
      const p = join(cwd, `${name}.yaml`);
      writeFileSync(
        p,
        `name: ${name}\ncommand: ${JSON.stringify(command)}\ninputs:\n  data: toy@v1\nresources:\n  time: 10m\n  gpus: ${gpus}\n${extra}`,
      );
      return p;
    };
    return { cwd, spec };
  };

  it(
    'detach, then ls / logs / wait from later processes; plan and the cache; a failing run exits 1 with RUN_FAILED',
    { timeout: 120_000 },
    () => {
      const { cwd, spec } = setup();
      const s = spec(
        'hello',
        'echo "hello from $CAIRN_RUN_NAME"; cat "$CAIRN_INPUT_DATA/d.csv"; echo done > "$CAIRN_OUTPUT_DIR/result.txt"',
      );
      const sub = ok<{ id: string; status: string }>(cwd, ['run', s, '--detach']);
      expect(['pending', 'running', 'completed']).toContain(sub.status);
      const waited = ok<{ status: string; output: string }>(cwd, ['run', 'wait', sub.id.slice(0, 13)]);
      expect([waited.status, waited.output]).toEqual(['completed', 'runs/hello@v1']);
      expect(cli(['run', 'logs', sub.id], { cwd }).stdout).toBe('hello from hello\nx\n1\n');
      expect(ok<{ runs: Array<{ id: string; status: string }> }>(cwd, ['run', 'ls']).runs.map((r) => r.status)).toEqual(
        ['completed'],
      );
      expect(ok<{ cacheHit: { run: string } | null }>(cwd, ['run', 'plan', s]).cacheHit?.run).toBe(sub.id);
      expect(ok<{ status: string }>(cwd, ['run', s]).status).toBe('reused');
      const bad = cli(['run', spec('broken', 'echo oops >&2; exit 7'), '--json'], { cwd });
      expect([bad.code, (bad.json as { error: { code: string } }).error.code]).toEqual([1, 'RUN_FAILED']);
      const unknown = cli(['run', spec('typo', 'exit 0', 'gpu: 1\n'), '--json'], { cwd });
      expect([unknown.code, (unknown.json as { error: { code: string; message: string } }).error.code]).toEqual([
        1,
        'INVALID_INPUT',
      ]);
      expect((unknown.json as { error: { message: string } }).error.message).toContain('unknown key "gpu"');
      const why = ok<{ status: string; reason: { code: string; message: string } }>(cwd, [
        'run',
        'why',
        (bad.json as { error: { data: { run: string } } }).error.data.run,
      ]);
      expect(why).toMatchObject({ status: 'failed', reason: { code: 'EXIT', message: 'exited with status 7' } });
    },
  );

  it(
    'in a fresh git project the second identical run is a cache hit; plan names the files that differ',
    { timeout: 120_000 },
    () => {
      const cwd = tmp();
      const git = (...args: string[]) => {
        const r = spawnSync('git', args, {
          cwd,
          encoding: 'utf8',
          env: {
            ...process.env,
            GIT_AUTHOR_NAME: 't',
            GIT_AUTHOR_EMAIL: 't@example.com',
            GIT_COMMITTER_NAME: 't',
            GIT_COMMITTER_EMAIL: 't@example.com',
          },
        });
        if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      git('init', '-q');
      writeFileSync(join(cwd, 'train.sh'), 'echo trained > "$CAIRN_OUTPUT_DIR/model.txt"\n');
      writeFileSync(join(cwd, 'cairn.yaml'), 'name: fresh\ncommand: sh train.sh\n');
      git('add', '.');
      git('commit', '-qm', 'first');
      ok(cwd, ['init']);
      // init keeps the workspace out of git, idempotently
      expect(readFileSync(join(cwd, '.gitignore'), 'utf8')).toBe('.cairn/\n');
      const first = ok<{ id: string; status: string }>(cwd, ['run']);
      expect(first.status).toBe('completed');
      const second = ok<{ status: string; reusedFrom: string }>(cwd, ['run']);
      expect([second.status, second.reusedFrom]).toEqual(['reused', first.id]);
      writeFileSync(join(cwd, 'train.sh'), 'echo better > "$CAIRN_OUTPUT_DIR/model.txt"\n');
      writeFileSync(join(cwd, 'helper.py'), 'x = 1\n');
      const plan = ok<{ cacheHit: unknown; why: string[] }>(cwd, ['run', 'plan']);
      expect(plan.cacheHit).toBeNull();
      expect(plan.why).toEqual([
        `code: the uncommitted changes differ: helper.py added, train.sh changed (since run ${first.id})`,
      ]);
    },
  );

  it(
    'a run with 200,000 metric points: run show summarizes it, run metrics draws its curve',
    { timeout: 180_000 },
    () => {
      const { cwd, spec } = setup();
      // More points than Math.min(...points) can take; one write per 10,000 lines.
      writeFileSync(
        join(cwd, 'log.py'),
        [
          'import json, os',
          "f = os.open(os.environ['CAIRN_METRICS_FILE'], os.O_WRONLY | os.O_APPEND | os.O_CREAT)",
          'for start in range(0, 200000, 10000):',
          "    os.write(f, ''.join(json.dumps({'kind': 'metric', 'name': 'loss', 'value': 1.0 / (1 + s), 'step': s}) + '\\n' for s in range(start, start + 10000)).encode())",
          '',
        ].join('\n'),
      );
      const done = ok<{ id: string; status: string }>(cwd, ['run', spec('many', 'python3 log.py')]);
      expect(done.status).toBe('completed');
      const shown = ok<{ metrics: unknown[] }>(cwd, ['run', 'show', done.id]);
      expect(shown.metrics).toEqual([
        { name: 'loss', points: 200_000, last: 1 / 200_000, lastStep: 199_999, min: 1 / 200_000, max: 1 },
      ]);
      const curve = ok<{ points: number; by: string; buckets: Array<{ steps: number[]; count: number; max: number }> }>(
        cwd,
        ['run', 'metrics', done.id, 'loss', '--buckets', '10'],
      );
      // Aligned ranges of 2^15 steps: the smallest power of two that fits 200,000 steps in 10.
      expect([curve.points, curve.by, curve.buckets.length]).toEqual([200_000, 'step', 7]);
      expect(curve.buckets.map((b) => b.count)).toEqual([...Array(6).fill(32_768), 200_000 - 6 * 32_768]);
      expect(curve.buckets[0]).toMatchObject({ steps: [0, 32_767], max: 1 });
    },
  );

  it(
    'a run over quota waits with a machine-readable reason; cancel takes it out of the queue',
    { timeout: 120_000 },
    () => {
      const { cwd, spec } = setup();
      writeFileSync(join(cwd, '.cairn', 'compute.json'), JSON.stringify({ localGpus: [0] }));
      ok(cwd, ['compute', 'project', 'set', 'vision', '--gpu-quota', '1', '--budget', '100']);
      const long = ok<{ id: string }>(cwd, ['run', spec('long', 'sleep 30', 'project: vision\n', 1), '--detach']);
      const queued = ok<{ id: string; status: string }>(cwd, [
        'run',
        spec('next', 'exit 0', 'project: vision\n', 1),
        '--detach',
      ]);
      expect(queued.status).toBe('queued');
      expect(
        ok<{ reason: { code: string; quota: number; inUse: number } }>(cwd, ['run', 'why', queued.id]).reason,
      ).toMatchObject({ code: 'QUOTA', quota: 1, inUse: 1 });
      expect(ok<{ status: string }>(cwd, ['run', 'cancel', queued.id]).status).toBe('cancelled');
      expect(ok<{ status: string }>(cwd, ['run', 'cancel', long.id]).status).toBe('cancelled');
      const usage = ok<{ rows: Array<{ key: string; runs: number }> }>(cwd, ['compute', 'usage']);
      expect(usage.rows.find((r) => r.key === 'vision')?.runs).toBe(2);
    },
  );

  it(
    'slurm: submit detached, then a later process sees the job end on the cluster',
    { timeout: 300_000 },
    async (ctx) => {
      const f = slurmFacts();
      if (!f) return ctx.skip();
      const release = await shareSlurmCluster(f);
      ctx.onTestFinished(release);
      const env = slurmEnv(f);
      const { cwd, spec } = setup();
      const s = spec(
        'on-slurm',
        'echo "node=$SLURMD_NODENAME job=$SLURM_JOB_ID"; echo ok > "$CAIRN_OUTPUT_DIR/r.txt"',
        'backend: slurm\n',
      );
      const sub = ok<{ id: string; job: string }>(cwd, ['run', s, '--detach'], env);
      expect(sub.job).toMatch(/^\d+$/);
      const done = ok<{ status: string; backend: string; output: string }>(cwd, ['run', 'wait', sub.id], env);
      expect([done.status, done.backend, done.output]).toEqual(['completed', 'slurm', 'runs/on-slurm@v1']);
      expect(cli(['run', 'logs', sub.id], { cwd, env }).stdout).toBe(`node=${f.node} job=${sub.job}\n`);
    },
  );
});
