// Benchmark suite "compute": training-run overheads (issue 6, "Performance").
//
//   a  submission overhead, local: wall time of `cairn run <spec> --detach` for a trivial job
//      (it returns once the job's supervisor is started: queue wait excluded) — median of N,
//      each a new spec (a new param) so no run is a cache hit          target <= 1 s per job
//   b  submission overhead, Slurm: the same with `--backend slurm` (returns once sbatch has
//      accepted the job), when scripts/start-slurm.sh has a cluster up  target <= 1 s per job
//   c  cache lookup with 100,000 runs recorded: cacheHit() (the query `cairn run` makes) in
//      process, median over 200 lookups of random keys (half hits), and the whole
//      `cairn run plan` command                                           target < 50 ms
//
// Metric ingestion (>= 50,000 points/s) is the `metrics` suite. --scale shrinks the number of
// recorded runs (c) and of submissions (a, b). Needs `npm run build`.
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { runCmd, median, max } from '../lib/measure.mjs';

const ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'bench@example.com' };

export const suite = {
  name: 'compute',
  description: 'training runs: submission overhead (local, Slurm), cache lookup with 100,000 runs recorded',
  async run(ctx) {
    const cli = path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const dist = (p) => pathToFileURL(path.join(ctx.repoRoot, 'dist', p)).href;
    if (!existsSync(path.join(ctx.repoRoot, 'dist', 'bundle', 'job-supervisor.js'))) {
      const msg = 'Cairn is not built: run `npm run build`';
      return { results: { error: { message: msg } }, rows: [], notes: [msg] };
    }
    const ws = path.join(ctx.work, 'ws');
    mkdirSync(ws, { recursive: true });
    const cairn = (args, timeoutMs = 120_000) =>
      runCmd([process.execPath, cli, ...args], { cwd: ws, env: ENV, timeoutMs });
    const must = async (args) => {
      const r = await cairn(args);
      if (!r.ok) throw new Error(`cairn ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
      return r;
    };
    await must(['init', '--json']);
    writeFileSync(path.join(ws, 'd.csv'), 'x\n1\n');
    await must(['data', 'add', 'd.csv', '--name', 'toy', '--json']);
    const spec = path.join(ws, 'cairn.yaml');
    writeFileSync(
      spec,
      'name: bench\ncommand: "true # {params.i}"\ninputs:\n  data: toy@v1\nparams:\n  i: 0\nresources:\n  time: 5m\n',
    );
    const n = Math.max(3, Math.round(20 * Math.min(1, ctx.scale * 4)));
    const results = {};
    const rows = [];

    // a, b: submission overhead
    const slurm = spawnSync('sinfo', ['-h'], { encoding: 'utf8' }).status === 0;
    for (const backend of ['local', 'slurm']) {
      if (backend === 'slurm' && !slurm) {
        results.slurm = { skipped: 'no Slurm cluster (run scripts/start-slurm.sh)' };
        rows.push({
          metric: 'submission overhead, Slurm (cairn run --detach, sbatch accepted)',
          cairn: '—',
          peer: '',
          ratio: '',
          target: '≤ 1 s',
          pass: 'n/a (no cluster)',
        });
        continue;
      }
      const times = [];
      for (let i = 0; i < n + 1; i++) {
        const r = await must([
          'run',
          spec,
          '--detach',
          '--backend',
          backend,
          '--set',
          `params.i=${backend}-${i}`,
          '--json',
        ]);
        if (i > 0) times.push(r.wallS);
      }
      await cairn(['run', 'ls', '--json']);
      results[backend] = { medianS: median(times), maxS: max(times), n: times.length, times };
      ctx.log(
        `compute: submission ${backend}: median ${median(times).toFixed(3)} s, max ${max(times).toFixed(3)} s over ${times.length}`,
      );
      rows.push({
        metric: `submission overhead, ${backend} (cairn run --detach: spec, inputs, run key, cache lookup, job started/accepted)`,
        cairn: `${median(times).toFixed(2)} s`,
        peer: '',
        ratio: '',
        target: '≤ 1 s per job',
        pass: median(times) <= 1 ? 'pass' : 'FAIL',
      });
    }

    // c: cache lookup with 100,000 runs
    const total = Math.max(1000, Math.round(100_000 * ctx.scale));
    const { openWorkspace } = await import(dist('app/workspace.js'));
    const { cacheHit } = await import(dist('compute/runs/store.js'));
    const w = await openWorkspace({ cwd: ws, command: 'bench', env: { ...process.env, ...ENV } });
    const keys = [];
    try {
      const db = w.meta.db;
      const now = new Date().toISOString();
      const batch = [];
      for (let i = 0; i < total; i++) {
        const key = createHash('sha256').update(`bench-${i}`).digest('hex');
        if (i % 97 === 0) keys.push(key);
        batch.push({
          id: randomUUID(),
          run_key: key,
          name: `bench-${i % 50}`,
          project: 'default',
          spec_digest: key,
          spec: '{}',
          backend: 'local',
          backend_id: null,
          status: i % 5 === 0 ? 'failed' : 'completed',
          reason: null,
          exit_code: 0,
          priority: 0,
          gpus: i % 4,
          cpus: 1,
          memory_mb: 0,
          time_limit_s: 600,
          created_at: now,
          created_by: 'bench@example.com',
          started_at: now,
          ended_at: now,
          restarts: 0,
          code_commit: null,
          code_dirty: null,
          env_digest: null,
          dir: '/tmp',
          output_version_id: null,
          reused_from: null,
          usage: '{}',
        });
        if (batch.length === 2000 || i === total - 1) {
          await db.transaction().execute(async (trx) => {
            for (let j = 0; j < batch.length; j += 100)
              await trx
                .insertInto('runs')
                .values(batch.slice(j, j + 100))
                .execute();
          });
          batch.length = 0;
        }
      }
      const lookups = [];
      let hits = 0;
      for (let i = 0; i < 200; i++) {
        const key = i % 2 ? keys[i % keys.length] : createHash('sha256').update(`miss-${i}`).digest('hex');
        const t0 = process.hrtime.bigint();
        const hit = await cacheHit(w, key);
        lookups.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (hit) hits++;
      }
      results.cache = { runs: total, lookupsMedianMs: median(lookups), lookupsMaxMs: max(lookups), hits };
      ctx.log(
        `compute: cache lookup with ${total} runs: median ${median(lookups).toFixed(3)} ms, max ${max(lookups).toFixed(3)} ms (${hits} hits of 200)`,
      );
    } finally {
      await w.close();
    }
    const plan = [];
    for (let i = 0; i < 4; i++)
      plan.push((await must(['run', 'plan', spec, '--set', 'params.i=local-1', '--json'])).wallS);
    results.cache.planCommandS = median(plan.slice(1));
    rows.push({
      metric: `cache lookup with ${total.toLocaleString('en-US')} runs recorded (in process, median of 200)`,
      cairn: `${results.cache.lookupsMedianMs.toFixed(2)} ms`,
      peer: '',
      ratio: '',
      target: '< 50 ms',
      pass: results.cache.lookupsMedianMs < 50 ? 'pass' : 'FAIL',
    });
    rows.push({
      metric: '`cairn run plan` (whole command: start-up, spec, code fingerprint, inputs, lookup)',
      cairn: `${results.cache.planCommandS.toFixed(2)} s`,
      peer: '',
      ratio: '',
      target: 'info',
      pass: 'info',
    });
    return {
      results,
      rows,
      notes: [
        `Submission: each job is a new spec (a new param), so no submission is a cache hit; the first one of each backend is not timed (it materializes the input once). --detach returns when the local supervisor is started or sbatch has accepted the job.`,
        `Cache lookup: ${total.toLocaleString('en-US')} run rows inserted directly into SQLite (80 % completed), indexed by (run_key, status); the lookup is the one query \`cairn run\` makes.`,
      ],
    };
  },
};
