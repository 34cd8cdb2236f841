// Benchmark suite "registry": listing at scale (issue 7, "Performance").
//
//   a  `model versions` of a model with 10,000 versions (in process: the listing the command
//      prints), p95 over 50 calls                                          target p95 < 200 ms
//   b  `run ls` with 100,000 runs recorded (the listing `cairn run ls` makes, newest 50, and
//      the whole table), p95 over 50 calls                                 target p95 < 200 ms
//   c  both as whole CLI commands (start-up included), median of 5            info
//
// Rows are inserted directly into a fresh SQLite workspace. Needs `npm run build`.
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { runCmd, median } from '../lib/measure.mjs';

const ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'bench@example.com' };
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))];

export const suite = {
  name: 'registry',
  description: 'listing 10,000 model versions and 100,000 runs (p95)',
  async run(ctx) {
    const cli = path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const dist = (p) => pathToFileURL(path.join(ctx.repoRoot, 'dist', p)).href;
    const ws = path.join(ctx.work, 'ws');
    mkdirSync(ws, { recursive: true });
    const init = await runCmd([process.execPath, cli, 'init', '--json'], { cwd: ws, env: ENV });
    if (!init.ok) throw new Error(init.stderr);
    const versions = Math.max(100, Math.round(10_000 * ctx.scale));
    const runs = Math.max(1000, Math.round(100_000 * ctx.scale));
    const { openWorkspace } = await import(dist('app/workspace.js'));
    const { modelVersions } = await import(dist('models/registry.js'));
    const { listRuns } = await import(dist('compute/runs/queries.js'));
    const w = await openWorkspace({ cwd: ws, command: 'bench', env: { ...process.env, ...ENV } });
    const results = {};
    try {
      const db = w.meta.db;
      const now = new Date().toISOString();
      const dsId = randomUUID();
      await db
        .insertInto('datasets')
        .values({ id: dsId, name: 'models/bench', created_at: now, created_by: 'bench@example.com' })
        .execute();
      const modelId = randomUUID();
      await db
        .insertInto('models')
        .values({ id: modelId, name: 'bench', created_at: now, created_by: 'bench@example.com' })
        .execute();
      for (let i = 0; i < versions; i += 200) {
        const dv = [];
        const mv = [];
        for (let j = i; j < Math.min(versions, i + 200); j++) {
          const digest = createHash('sha256').update(`v${j}`).digest('hex');
          const vid = randomUUID();
          dv.push({
            id: vid,
            dataset_id: dsId,
            number: j + 1,
            digest,
            parent_id: null,
            message: '',
            author: 'bench@example.com',
            created_at: now,
            file_count: 1,
            total_bytes: 1,
            new_bytes: 1,
            stats: '{}',
          });
          mv.push({
            id: randomUUID(),
            model_id: modelId,
            number: j + 1,
            digest,
            files_version_id: vid,
            format: 'onnx',
            signature: null,
            run_id: null,
            card: '{}',
            created_at: now,
            created_by: 'bench@example.com',
          });
        }
        await db.transaction().execute(async (trx) => {
          for (let k = 0; k < dv.length; k += 50)
            await trx
              .insertInto('dataset_versions')
              .values(dv.slice(k, k + 50))
              .execute();
          for (let k = 0; k < mv.length; k += 50)
            await trx
              .insertInto('model_versions')
              .values(mv.slice(k, k + 50))
              .execute();
        });
      }
      for (let i = 0; i < runs; i += 2000) {
        const batch = [];
        for (let j = i; j < Math.min(runs, i + 2000); j++) {
          const t = new Date(Date.parse(now) - j * 1000).toISOString();
          batch.push({
            id: randomUUID(),
            run_key: createHash('sha256').update(`r${j}`).digest('hex'),
            name: `bench-${j % 50}`,
            project: `p${j % 5}`,
            spec_digest: 'x',
            spec: '{}',
            backend: 'local',
            backend_id: null,
            status: 'completed',
            reason: null,
            exit_code: 0,
            priority: 0,
            gpus: 1,
            cpus: 1,
            memory_mb: 0,
            time_limit_s: 600,
            created_at: t,
            created_by: 'bench@example.com',
            started_at: t,
            ended_at: t,
            restarts: 0,
            code_commit: null,
            code_dirty: null,
            env_digest: null,
            dir: '/tmp',
            output_version_id: null,
            reused_from: null,
            usage: '{}',
          });
        }
        await db.transaction().execute(async (trx) => {
          for (let k = 0; k < batch.length; k += 100)
            await trx
              .insertInto('runs')
              .values(batch.slice(k, k + 100))
              .execute();
        });
      }
      const time = async (fn, n = 50) => {
        const ts = [];
        for (let i = 0; i < n; i++) {
          const t0 = process.hrtime.bigint();
          await fn();
          ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        return { p95Ms: p95(ts), medianMs: median(ts) };
      };
      results.modelVersions = { versions, ...(await time(() => modelVersions(w, 'bench'))) };
      results.runLs = { runs, ...(await time(() => listRuns(w, {}))) };
      results.runLsAll = { runs, ...(await time(() => listRuns(w, { limit: runs }), 10)) };
    } finally {
      await w.close();
    }
    const cliTime = async (args) => {
      const ts = [];
      for (let i = 0; i < 5; i++)
        ts.push((await runCmd([process.execPath, cli, ...args, '--json'], { cwd: ws, env: ENV })).wallS);
      return median(ts);
    };
    results.cli = {
      modelVersionsS: await cliTime(['model', 'versions', 'bench']),
      runLsS: await cliTime(['run', 'ls']),
    };
    ctx.log(`registry: ${JSON.stringify(results)}`);
    const row = (metric, r, target = 200) => ({
      metric,
      cairn: `p95 ${r.p95Ms.toFixed(1)} ms (median ${r.medianMs.toFixed(1)})`,
      peer: '',
      ratio: '',
      target: `p95 < ${target} ms`,
      pass: r.p95Ms < target ? 'pass' : 'FAIL',
    });
    return {
      results,
      rows: [
        row(`list the ${versions.toLocaleString('en-US')} versions of a model (in process)`, results.modelVersions),
        row(`list runs with ${runs.toLocaleString('en-US')} recorded (newest 50, as \`run ls\`)`, results.runLs),
        {
          ...row(`list all ${runs.toLocaleString('en-US')} runs at once (no paging)`, results.runLsAll),
          target: 'info',
          pass: 'info',
        },
        {
          metric: '`cairn model versions` / `cairn run ls` whole commands (median of 5)',
          cairn: `${results.cli.modelVersionsS.toFixed(2)} s / ${results.cli.runLsS.toFixed(2)} s`,
          peer: '',
          ratio: '',
          target: 'info',
          pass: 'info',
        },
      ],
      notes: ['Rows inserted directly into SQLite; run ls syncs active runs first (none here).'],
    };
  },
};
