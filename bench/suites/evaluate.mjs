// Benchmark suite "evaluate": the evaluation overhead of a model gate apart from inference (issue 7,
// "Performance": at most 1 s for 100,000 rows with a 1,000-resample bootstrap).
//
//   a  the whole overhead, given labels and scores for 100,000 rows: every classification metric
//      (accuracy, precision, recall, f1, roc_auc, log_loss, ece, brier), then one 1,000-resample
//      bootstrap (bootstrapEvaluate) giving intervals for accuracy, F1 and ROC-AUC and the paired
//      ROC-AUC delta (candidate − champion), and the non-regression decision  target <= 1 s
//   b  the same intervals and delta from separate calls, each drawing its own 1,000 resamples
//      (bootstrapCIs, then pairedBootstrapDelta)                                             info
//   c  slices (10 groups × accuracy, ROC-AUC, one required slice) and fairness gaps          info
//
// Each run is a fresh Node process (cold JIT, as `cairn model evaluate` is), --warmup + --repeat
// runs, median. Drives the compiled modules in dist/models/evaluation/metrics/ (`npm run build`, or
// `npx tsc -p tsconfig.build.json`). --scale X: round(100,000 × X) rows (at least 10,000); the
// resample count stays 1,000.
import path from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCmd, median, min, max } from '../lib/measure.mjs';

const FULL_ROWS = 100_000;
const RESAMPLES = 1000;
const SEED = 20261127;
const TARGET_S = 1;
const CLASSIFICATION = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss', 'ece', 'brier'];
const CI_METRICS = ['accuracy', 'f1', 'roc_auc'];
const PAIRED_METRIC = 'roc_auc';
const MARGIN = 0.005;
const SELF = fileURLToPath(import.meta.url);

export const suite = {
  name: 'evaluate',
  description:
    'model evaluation overhead: metrics + 1,000-resample bootstrap CIs + a paired non-regression bootstrap on 100,000 rows',
  async run(ctx) {
    const log = ctx.log;
    const stale = staleness(ctx.repoRoot);
    if (stale) return { results: { error: { message: stale } }, rows: errorRows(stale), notes: [stale] };
    const rows = Math.max(10_000, Math.round(FULL_ROWS * ctx.scale));
    const warmup = ctx.warmup ?? 1;
    const runs = [];
    let error = null;
    for (let r = 0; r < warmup + ctx.repeat; r++) {
      const out = await child([String(rows), ctx.repoRoot]);
      if (out.error) {
        error = out.error;
        break;
      }
      const warm = r < warmup;
      if (!warm) runs.push(out);
      log(
        `evaluate: overhead ${out.overhead.wallS.toFixed(3)} s (metrics ${out.metrics.wallS.toFixed(3)}, bootstrap ${out.bootstrap.wallS.toFixed(3)}; cpu/wall ${out.overhead.cpuShare.toFixed(2)}); separate calls ${out.separate.wallS.toFixed(3)} s (CIs ${out.cis.wallS.toFixed(3)}, paired ${out.paired.wallS.toFixed(3)})${warm ? ' (warm-up)' : ''}`,
      );
    }
    const results = { rows, resamples: RESAMPLES, seed: SEED, runs };
    if (error) {
      results.error = error;
      return { results, rows: errorRows(error.message), notes: [error.message] };
    }
    const pick = (f) => median(runs.map(f));
    results.summary = {
      overheadS: pick((x) => x.overhead.wallS),
      overheadMinS: min(runs.map((x) => x.overhead.wallS)),
      overheadMaxS: max(runs.map((x) => x.overhead.wallS)),
      metricsS: pick((x) => x.metrics.wallS),
      bootstrapS: pick((x) => x.bootstrap.wallS),
      separateS: pick((x) => x.separate.wallS),
      cisS: pick((x) => x.cis.wallS),
      pairedS: pick((x) => x.paired.wallS),
      slicesS: pick((x) => x.slices.wallS),
      importS: pick((x) => x.importS),
      cpuShare: min(runs.map((x) => x.overhead.cpuShare)),
      peakRssKiB: max(runs.map((x) => x.peakRssKiB)),
    };
    return { results, rows: buildRows(results, ctx), details: detailRows(results), notes: notes(results, ctx) };
  },
};

/** A message when dist/models/evaluation/metrics/ is missing or older than its sources, else null. */
function staleness(repoRoot) {
  const src = path.join(repoRoot, 'src', 'models', 'evaluation', 'metrics');
  const dist = path.join(repoRoot, 'dist', 'models', 'evaluation', 'metrics');
  const build = 'run `npm run build` (or `npx tsc -p tsconfig.build.json`)';
  if (!existsSync(path.join(dist, 'index.js')))
    return `Cairn is not built (missing dist/models/evaluation/metrics/index.js): ${build}`;
  if (!existsSync(src)) return null; // an installed package: dist is all there is
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts')) continue;
    const js = path.join(dist, f.replace(/\.ts$/, '.js'));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(path.join(src, f)).mtimeMs) {
      return `dist/models/evaluation/metrics/ is stale (${f} is newer than its build): ${build}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Child mode: `node bench/suites/evaluate.mjs --child <rows> <repoRoot>` prints one JSON line.

async function child(args) {
  const r = await runCmd([process.execPath, SELF, '--child', ...args]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...JSON.parse(line), peakRssKiB: r.peakRssKiB };
  } catch {
    return { error: { message: `child failed (exit ${r.code}): ${r.stderr.slice(-500)}` } };
  }
}

/**
 * Labels and scores as a model gate sees them, the same on every machine: xorshift32 with a fixed
 * seed, 30 % positives, candidate scores a logistic of signal + noise rounded to float32 (as ONNX
 * outputs are, so some scores tie and ROC-AUC's tie path runs), the champion the same with extra
 * noise (a slightly worse model), a 10-valued `region` column for slices and fairness.
 */
function generate(n) {
  let x = 0x9e3779b9;
  const rand = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const y = new Float64Array(n);
  const candidate = new Float64Array(n);
  const champion = new Float64Array(n);
  const region = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.floor(rand() * 10);
    region[i] = `r${r}`;
    y[i] = rand() < 0.25 + r * 0.01 ? 1 : 0;
    const noise = (rand() + rand() + rand() - 1.5) * 2.5;
    const z = (y[i] ? 1.2 : -1.2) + noise;
    candidate[i] = Math.fround(1 / (1 + Math.exp(-z)));
    champion[i] = Math.fround(1 / (1 + Math.exp(-(z + (rand() - 0.5) * 1.5))));
  }
  return { y, candidate, champion, region };
}

async function childMain([rowsArg, repoRoot]) {
  const n = Number(rowsArg);
  const data = generate(n);
  const t0 = clock();
  const E = await import(
    pathToFileURL(path.join(repoRoot, 'dist', 'models', 'evaluation', 'metrics', 'index.js')).href
  );
  const importS = clock().wallS - t0.wallS;
  const opts = { resamples: RESAMPLES, seed: SEED };

  // a. the overhead: metrics, then one bootstrap for the intervals and the paired gate
  const a0 = clock();
  const values = {};
  for (const m of CLASSIFICATION) values[m] = E.METRICS[m].compute(data.y, data.candidate);
  const a1 = clock();
  const shared = E.bootstrapEvaluate(
    { y: data.y, p: data.candidate, metrics: CI_METRICS, champion: { p: data.champion, metrics: [PAIRED_METRIC] } },
    opts,
  );
  const sharedDelta = shared.deltas[PAIRED_METRIC];
  const gate = E.nonRegression({
    delta: sharedDelta.delta,
    margin: MARGIN,
    higherIsBetter: sharedDelta.higherIsBetter,
  });
  const a2 = clock();

  // b. the same from separate calls, each with its own resamples (after a: the JIT is warm)
  const b0 = clock();
  const cis = E.bootstrapCIs(CI_METRICS, data.y, data.candidate, opts);
  const b1 = clock();
  const paired = E.pairedBootstrapDelta(PAIRED_METRIC, data.y, data.candidate, data.champion, opts);
  E.nonRegression({ delta: paired.delta, margin: MARGIN, higherIsBetter: paired.higherIsBetter });
  const b2 = clock();

  // c. slices and fairness
  const c0 = clock();
  const slices = E.sliceReport({
    y: data.y,
    p: data.candidate,
    columns: { region: data.region },
    by: ['region'],
    checks: [
      { metric: 'accuracy', min: 0.5 },
      { metric: 'roc_auc', min: 0.5 },
    ],
    required: [{ region: 'r0' }],
  });
  const fairness = E.fairnessGaps({ y: data.y, p: data.candidate, columns: { region: data.region }, by: ['region'] });
  const c1 = clock();

  // Sanity: what the timings bought is right (not part of the timing).
  const problems = [];
  for (const m of CI_METRICS) {
    const ci = cis[m];
    if (ci.value !== values[m]) problems.push(`${m}: interval value ${ci.value} ≠ metric ${values[m]}`);
    if (!(ci.lo <= ci.value && ci.value <= ci.hi))
      problems.push(`${m}: [${ci.lo}, ${ci.hi}] does not contain ${ci.value}`);
    if (JSON.stringify(shared.intervals[m]) !== JSON.stringify(ci))
      problems.push(`${m}: bootstrapEvaluate's interval differs from bootstrapCIs'`);
  }
  const champAuc = E.METRICS.roc_auc.compute(data.y, data.champion);
  if (paired.delta.value !== values.roc_auc - champAuc) problems.push('paired delta ≠ candidate − champion');
  if (JSON.stringify(shared.deltas[PAIRED_METRIC].delta) !== JSON.stringify(paired.delta))
    problems.push("bootstrapEvaluate's delta differs from pairedBootstrapDelta's");
  if (slices.slices.length !== 10 || !slices.pass)
    problems.push(`slices: ${slices.slices.length} slices, failures: ${slices.failures.join('; ')}`);
  if (problems.length) throw new Error(`wrong results: ${problems.join('; ')}`);

  return {
    rows: n,
    importS,
    overhead: span(a0, a2),
    metrics: span(a0, a1),
    bootstrap: span(a1, a2),
    separate: span(b0, b2),
    cis: span(b0, b1),
    paired: span(b1, b2),
    slices: span(c0, c1),
    values,
    intervals: Object.fromEntries(CI_METRICS.map((m) => [m, pickCI(cis[m])])),
    pairedDelta: {
      metric: PAIRED_METRIC,
      champion: champAuc,
      ...pickCI(sharedDelta.delta),
      undefinedResamples: sharedDelta.undefinedResamples,
      margin: MARGIN,
      pass: gate.pass,
      rule: gate.rule,
    },
    fairness: {
      demographicParity: fairness.demographicParity.difference,
      equalOpportunity: fairness.equalOpportunity.difference,
    },
  };
}

const pickCI = (ci) => ({ value: ci.value, lo: ci.lo, hi: ci.hi, se: ci.se });

function clock() {
  const u = process.cpuUsage();
  return { wallS: Number(process.hrtime.bigint()) / 1e9, cpuS: (u.user + u.system) / 1e6 };
}

/** Wall time, and the share of it this (single-threaded) process was on a CPU: < 1 means it waited for one. */
function span(a, b) {
  const wallS = b.wallS - a.wallS;
  return { wallS, cpuS: b.cpuS - a.cpuS, cpuShare: (b.cpuS - a.cpuS) / wallS };
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--child') {
  childMain(process.argv.slice(3)).then(
    (out) => process.stdout.write(`${JSON.stringify(out)}\n`),
    (e) => {
      process.stdout.write(`${JSON.stringify({ error: { message: String(e?.stack ?? e) } })}\n`);
      process.exitCode = 1;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtN = (x) => Number(x).toLocaleString('en-US');
const fmtS = (x) => `${x.toFixed(3)} s`;
const fmtMiB = (kib) => (typeof kib === 'number' ? `${(kib / 1024).toFixed(0)} MiB` : '—');

function errorRows(msg) {
  return [
    {
      metric: 'evaluation overhead (metrics + bootstrap CIs + paired gate)',
      cairn: `error: ${msg.slice(0, 200)}`,
      peer: '—',
      ratio: '—',
      target: `≤ ${TARGET_S} s`,
      pass: 'error',
    },
  ];
}

function buildRows(r, ctx) {
  const s = r.summary;
  const n = fmtN(r.rows);
  const full = ctx.scale === 1;
  return [
    {
      id: 'overhead',
      metric: `evaluation overhead apart from inference, ${n} rows: ${CLASSIFICATION.length} classification metrics + one ${fmtN(RESAMPLES)}-resample bootstrap: CIs (${CI_METRICS.join(', ')}) and the paired ${PAIRED_METRIC} non-regression delta`,
      cairn: fmtS(s.overheadS),
      peer: '—',
      ratio: '—',
      target: full ? `≤ ${TARGET_S} s` : `≤ ${TARGET_S} s at 100,000 rows (info)`,
      pass: full ? (s.overheadS <= TARGET_S ? 'pass' : 'FAIL') : 'info',
      values: s,
    },
    {
      id: 'separate',
      metric: `the same CIs and delta from separate calls, ${fmtN(RESAMPLES)} resamples each (bootstrapCIs + pairedBootstrapDelta; metrics not included), ${n} rows`,
      cairn: fmtS(s.separateS),
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: 'info',
    },
    {
      id: 'slices',
      metric: `slices (10 groups × accuracy, roc_auc; a required slice) + fairness gaps, ${n} rows`,
      cairn: fmtS(s.slicesS),
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: 'info',
    },
  ];
}

function detailRows(r) {
  const s = r.summary;
  const one = r.runs[0];
  return [
    {
      tool: 'cairn',
      what: `${CLASSIFICATION.length} metrics (point values)`,
      time: fmtS(s.metricsS),
      rss: '',
      more: CLASSIFICATION.map((m) => `${m} ${one.values[m].toFixed(4)}`).join(', '),
    },
    {
      tool: 'cairn',
      what: `bootstrapEvaluate(${CI_METRICS.join(', ')}; champion ${PAIRED_METRIC}) + nonRegression, ${fmtN(RESAMPLES)} resamples`,
      time: fmtS(s.bootstrapS),
      rss: '',
      more: `${CI_METRICS.map((m) => `${m} ${one.intervals[m].value.toFixed(4)} [${one.intervals[m].lo.toFixed(4)}, ${one.intervals[m].hi.toFixed(4)}]`).join(', ')}; Δ${PAIRED_METRIC} ${one.pairedDelta.value.toFixed(4)} [${one.pairedDelta.lo.toFixed(4)}, ${one.pairedDelta.hi.toFixed(4)}], margin ${MARGIN}: ${one.pairedDelta.pass ? 'pass' : 'fail'}`,
    },
    {
      tool: 'cairn',
      what: `bootstrapCIs(${CI_METRICS.join(', ')}), ${fmtN(RESAMPLES)} resamples`,
      time: fmtS(s.cisS),
      rss: '',
      more: 'separate call (b)',
    },
    {
      tool: 'cairn',
      what: `pairedBootstrapDelta(${PAIRED_METRIC}) + nonRegression, ${fmtN(RESAMPLES)} resamples`,
      time: fmtS(s.pairedS),
      rss: '',
      more: 'separate call (b): its own resamples, two ROC-AUC passes each',
    },
    {
      tool: 'cairn',
      what: 'whole child process',
      time: fmtS(s.overheadS),
      rss: fmtMiB(s.peakRssKiB),
      more: `runs ${r.runs.map((x) => fmtS(x.overhead.wallS)).join(', ')}; module import ${fmtS(s.importS)} (not counted); lowest CPU share ${s.cpuShare.toFixed(2)}`,
    },
  ];
}

function notes(r, ctx) {
  const s = r.summary;
  const n = [
    `Data: ${fmtN(r.rows)} rows generated in the child (xorshift32, untimed): 25–34 % positives, candidate scores a logistic of signal + noise rounded to float32, champion the same with extra noise; a 10-valued region column. Scores are given: no inference is timed.`,
    `Timed (a), in a fresh Node process per run (cold JIT, as \`cairn model evaluate\` runs): ${CLASSIFICATION.length} METRICS[…].compute calls, then bootstrapEvaluate — one set of ${fmtN(RESAMPLES)} resamples serving the intervals of ${CI_METRICS.join(', ')} and the paired ${PAIRED_METRIC} delta against the champion — and nonRegression with margin ${MARGIN}. Module import (${fmtS(s.importS)}) is not counted. Seed ${SEED}; resamples are multiplicity counts from xoshiro128**, metrics weighted by them (no copies of the data). Per resample: ${fmtN(r.rows)} draws, one confusion-matrix pass (accuracy and F1 share it), one ROC-AUC pass per model.`,
    '(b) repeats the intervals and the delta with separate calls, after (a) in the same process (JIT warm), the way a caller that does not batch would: each call draws its own resamples, so it pays the draws twice. `cairn model evaluate` should batch with bootstrapEvaluate.',
    'The child checks its results (interval values equal the metrics and contain them, the paired delta equals candidate − champion, bootstrapEvaluate agrees with the separate calls) and fails the run otherwise.',
  ];
  if (s.cpuShare < 0.9) {
    n.push(
      `WARNING: the evaluation was on a CPU only ${Math.round(s.cpuShare * 100)} % of its wall time in at least one run (it is single-threaded): other processes competed for the CPUs and the timings are inflated; rerun on an idle machine.`,
    );
  }
  if (ctx.scale !== 1)
    n.push(`Scaled run: ${fmtN(r.rows)} rows instead of 100,000; the 1 s target is defined at 100,000.`);
  return n;
}
