// Benchmark suite "ui": the web UI in a real headless Chromium (issue 12).
//
//   a  /runs among 100,000 runs: navigation start to the first page of the table drawn   target < 1 s
//   b  /runs filter `metrics.acc > 0.9 and params.lr < 0.01`: Enter to the new count shown target < 0.3 s
//   c  /runs/compare of 100 runs × 100,000 points each: navigation to all curves drawn    target < 2 s
//   d  the UI bundle, gzip -9: the first load (app + css) and the lineage chunk (elkjs)   info
//
// The fixture: bench/suites/runs.mjs's 100,000 finished runs (rows straight into SQLite), and
// for the first 100 of them a metric `curve` of 100,000 points each (10 million rows in
// run_metrics, with their summaries): what the pages read, not how runs are made. `cairn ui`
// serves it; Debian's chromium (scripts/install-chromium.sh) draws it. --scale X shrinks both.
/* global document, window, PerformanceObserver -- used only in functions evaluated in the browser page */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { median } from '../lib/measure.mjs';
import { fixture } from './runs.mjs';

const FULL_RUNS = 100_000;
const FULL_POINTS = 100_000;
const CURVES = 100;
const FILTER = 'metrics.acc > 0.9 and params.lr < 0.01';
const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';

export const suite = {
  name: 'ui',
  description:
    'web UI in Chromium: /runs over 100,000 runs (paint < 1 s, filter < 0.3 s), compare 100 × 100,000 points (< 2 s)',
  async run(ctx) {
    if (!existsSync(CHROMIUM)) return skipped(`no chromium at ${CHROMIUM} (scripts/install-chromium.sh)`);
    if (!existsSync(path.join(ctx.repoRoot, 'dist', 'ui', 'index.html'))) return skipped('run npm run build first');
    const runs = Math.max(1000, Math.round(FULL_RUNS * ctx.scale));
    const points = Math.max(1000, Math.round(FULL_POINTS * ctx.scale));
    const ws = path.join(ctx.work, 'ws');
    mkdirSync(ws, { recursive: true });
    const results = { runs, curves: CURVES, points };
    const t0 = Date.now();
    const fx = await fixture(ws, runs, ctx.repoRoot);
    const ids = await addCurves(ws, ctx.repoRoot, points);
    results.fixtureS = (Date.now() - t0) / 1000;
    ctx.log(`ui: ${runs} runs and ${CURVES} × ${points} points in ${results.fixtureS.toFixed(0)} s`);
    const ui = await serve(ctx.repoRoot, ws);
    const { chromium } = await import(
      pathToFileURL(path.join(ctx.repoRoot, 'node_modules', 'playwright-core', 'index.mjs')).href
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const paint = [];
      const filter = [];
      const compare = [];
      // Less load-sensitive than wall time on a shared machine: the server's CPU time (utime +
      // stime of `cairn ui`) and the page's main-thread long tasks (> 50 ms) in each step.
      const cpu = { paint: [], filter: [], compare: [] };
      const long = { paint: [], filter: [], compare: [] };
      for (let r = 0; r < (ctx.warmup ?? 1) + ctx.repeat; r++) {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        // What opening the link cairn ui printed leaves behind: its secret as this port's cookie.
        await page.context().addCookies([{ name: `cairn_ui_${new URL(ui.url).port}`, value: ui.token, url: ui.url }]);
        await page.addInitScript(() => {
          window.__longMs = 0;
          new PerformanceObserver((l) => {
            for (const e of l.getEntries()) window.__longMs += e.duration;
          }).observe({ type: 'longtask', buffered: true });
        });
        const longMs = () => page.evaluate(() => window.__longMs);
        let c = serverCpuMs(ui.pid);
        let t = performance.now();
        await page.goto(`${ui.url}/runs`);
        await page.waitForSelector('table.runs tbody tr');
        paint.push((performance.now() - t) / 1000);
        cpu.paint.push(serverCpuMs(ui.pid) - c);
        long.paint.push(await longMs());
        await page.fill('#run-filter', FILTER);
        let l = await longMs();
        c = serverCpuMs(ui.pid);
        t = performance.now();
        await page.press('#run-filter', 'Enter');
        await page.waitForFunction(
          (n) =>
            document.querySelector('main p.muted')?.textContent?.startsWith(`${n.toLocaleString('en')} runs match`),
          fx.expectedMatches,
        );
        filter.push((performance.now() - t) / 1000);
        cpu.filter.push(serverCpuMs(ui.pid) - c);
        long.filter.push((await longMs()) - l);
        c = serverCpuMs(ui.pid);
        t = performance.now();
        await page.goto(`${ui.url}/runs/compare?ids=${ids.join(',')}&metric=curve`);
        await page.waitForFunction(
          (n) => document.querySelectorAll('.u-legend .u-series').length === n + 1,
          ids.length,
        );
        await page.waitForSelector('.chart canvas');
        compare.push((performance.now() - t) / 1000);
        cpu.compare.push(serverCpuMs(ui.pid) - c);
        long.compare.push(await longMs());
        await page.close();
      }
      const w = ctx.warmup ?? 1;
      results.paintS = median(paint.slice(w));
      results.filterS = median(filter.slice(w));
      results.compareS = median(compare.slice(w));
      // The first compare computes the 100 curves; later ones find them in the server's cache.
      results.compareColdS = compare[0];
      results.serverCpuMs = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v.slice(w))]));
      results.serverCpuColdCompareMs = cpu.compare[0];
      results.longTaskMs = Object.fromEntries(Object.entries(long).map(([k, v]) => [k, median(v.slice(w))]));
      results.all = { paint, filter, compare, cpu, long };
      results.expectedMatches = fx.expectedMatches;
    } finally {
      await browser.close();
      await ui.stop();
    }
    results.bundle = bundleSizes(ctx.repoRoot);
    return { results, rows: rows(results, ctx.scale) };
  },
};

function skipped(why) {
  return {
    results: { skipped: why },
    rows: [{ metric: 'web UI', cairn: '–', peer: '–', ratio: '–', target: '–', pass: 'skipped' }],
    notes: [why],
  };
}

function rows(r, scale) {
  const at = scale === 1 ? '' : ` (scale ${scale})`;
  const row = (metric, s, target) => ({
    metric: metric + at,
    cairn: `${s.toFixed(3)} s`,
    peer: '–',
    ratio: '–',
    target: `< ${target} s`,
    pass: s < target ? 'pass' : 'FAIL',
  });
  return [
    row(`/runs first page of ${r.runs.toLocaleString('en')} runs drawn`, r.paintS, 1),
    row(`/runs filter (${r.expectedMatches} match)`, r.filterS, 0.3),
    row(`/runs/compare ${r.curves} runs × ${r.points.toLocaleString('en')} points`, r.compareS, 2),
    row(`/runs/compare, first visit (curves not yet cached by the server)`, r.compareColdS, 2),
    {
      metric: 'server CPU per step (paint / filter / compare warm / compare first), ms',
      cairn: [r.serverCpuMs.paint, r.serverCpuMs.filter, r.serverCpuMs.compare, r.serverCpuColdCompareMs]
        .map((x) => x.toFixed(0))
        .join(' / '),
      peer: '–',
      ratio: '–',
      target: '–',
      pass: 'info',
    },
    {
      metric: 'browser main-thread long tasks per step (paint / filter / compare), ms',
      cairn: [r.longTaskMs.paint, r.longTaskMs.filter, r.longTaskMs.compare].map((x) => x.toFixed(0)).join(' / '),
      peer: '–',
      ratio: '–',
      target: '–',
      pass: 'info',
    },
    {
      metric: 'UI bundle gzip -9: first load (js + css) / lineage chunk (elkjs, loaded on /lineage)',
      cairn: `${(r.bundle.first / 1024).toFixed(1)} KiB / ${(r.bundle.lazy / 1024).toFixed(1)} KiB`,
      peer: '–',
      ratio: '–',
      target: '–',
      pass: 'info',
    },
  ];
}

/** A `curve` metric of `points` steps for the first 100 runs, and its summary, straight into SQLite. */
async function addCurves(dir, repoRoot, points) {
  const { openWorkspace } = await import(pathToFileURL(path.join(repoRoot, 'dist', 'app', 'workspace.js')).href);
  const { summarizeBlocks, upsertBlocks } = await import(
    pathToFileURL(path.join(repoRoot, 'dist', 'compute', 'metrics', 'blocks.js')).href
  );
  const ws = await openWorkspace({ cwd: dir, command: 'bench', env: process.env });
  try {
    const ids = (await ws.meta.db.selectFrom('runs').select('id').orderBy('id').limit(CURVES).execute()).map(
      (r) => r.id,
    );
    const time = '2026-11-01T00:00:00.000Z';
    for (const [k, id] of ids.entries()) {
      await ws.meta.db.transaction().execute(async (tx) => {
        for (let s = 0; s < points; s += 5000) {
          const rows = [];
          for (let step = s; step < Math.min(points, s + 5000); step++)
            rows.push({
              run_id: id,
              name: 'curve',
              step,
              value: Math.exp(-step / (points / (2 + (k % 7)))) + 0.01 * Math.sin(step),
              time,
            });
          await tx.insertInto('run_metrics').values(rows).execute();
          // The step blocks ingestion keeps beside the points (curves read them, not the points).
          await upsertBlocks(tx, id, summarizeBlocks(rows));
        }
        await tx
          .insertInto('run_metric_summaries')
          .values({
            run_id: id,
            name: 'curve',
            points,
            min_value: 0,
            max_value: 1.01,
            first_step: 0,
            first_time: time,
            last_value: 0.01,
            last_step: points - 1,
            last_time: time,
          })
          .execute();
      });
    }
    return ids;
  } finally {
    await ws.close();
  }
}

function serve(repoRoot, cwd) {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'cairn.js'), 'ui', '--port', '0', '--json'], {
    cwd,
    env: { ...process.env, CAIRN_NO_PROGRESS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      try {
        const { url, token } = JSON.parse(out);
        resolve({
          url,
          token,
          pid: child.pid,
          stop: () => new Promise((done) => (child.once('exit', done), child.kill('SIGTERM'))),
        });
      } catch {
        // not whole yet
      }
    });
    child.on('exit', (code) => reject(new Error(`cairn ui exited ${code}`)));
  });
}

/** utime + stime of a process in ms (Linux /proc; clock ticks of 10 ms). */
function serverCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function bundleSizes(repoRoot) {
  const dir = path.join(repoRoot, 'dist', 'ui', 'assets');
  const index = readFileSync(path.join(repoRoot, 'dist', 'ui', 'index.html'), 'utf8');
  // The first load: what index.html names and the chunks its entry imports statically.
  const named = readdirSync(dir).filter((f) => index.includes(f));
  const entry = named
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('');
  const statics = new Set([...entry.matchAll(/(?:from|import)\s*"\.\/(chunk-[\w-]+\.js)"/g)].map((m) => m[1]));
  let first = 0;
  let lazy = 0;
  for (const f of readdirSync(dir)) {
    const gz = gzipSync(readFileSync(path.join(dir, f)), { level: 9 }).length;
    if (named.includes(f) || statics.has(f)) first += gz;
    else lazy += gz;
  }
  return { first, lazy };
}
