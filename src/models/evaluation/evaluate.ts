import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { formatDigest, sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { uuidv7 } from '../../core/ids.js';
import { isoUtc } from '../../core/time.js';
import type { DatasetDeps } from '../../datasets/index.js';
import { resolveVersion } from '../../datasets/index.js';
import { addEdges } from '../../meta/repos/lineage.js';
import { readTable } from '../../sdk/index.js';
import { materializeShared } from '../../datasets/index.js';
import { pairedBootstrapDelta } from './metrics/bootstrap.js';
import { getMetric } from './metrics/metrics.js';
import { fairnessGaps, sliceReport } from './metrics/slices.js';
import { resolveModel, type ModelVersionRow } from '../registry.js';
import { persistentCommandPredictor } from './persistent-predictor.js';
import { classTable, codeOf, labelCodec, type ClassTable } from './multiclass.js';
import { commandPredictor, onnxLabelPredictor, onnxPredictor, SCORES, type Predictor } from './predict.js';
import { readSpecFile } from '../../core/yaml-doc.js';
import { parseEvalSuite, type EvalCheck, type EvalSuite } from './suite.js';
import { judge, type CheckOutcome, type Evidence } from './judge.js';

export type { CheckOutcome };

export interface EvaluationReport {
  format: 'cairn.evaluation/v1';
  model: string;
  digest: string;
  suite: string;
  suiteDigest: string;
  data: string;
  rows: number;
  passed: boolean;
  checks: CheckOutcome[];
  metrics: Record<string, number>;
  at: string;
  durationMs: number;
}

interface Loaded {
  y: Float64Array;
  x: Float32Array;
  rows: number;
  cols: number;
  columns: Record<string, unknown[]>;
  /** task: multiclass: each row's feature values as read, and the class codes (x is then the row index). */
  multiclass?: { raw: unknown[][]; table: ClassTable };
}

/** The label and feature columns of a table version, as arrays a predictor and the metrics take. */
export async function loadData(
  deps: DatasetDeps,
  ref: string,
  suite: EvalSuite,
): Promise<{ ref: string; versionId: string; digest: string; data: Loaded }> {
  const v = await resolveVersion(deps.meta.db, ref);
  const dir = await materializeShared(deps, v.version.digest, deps.cacheDir);
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await readTable(dir);
  } catch (err) {
    // DuckDB's message names the materialized copy and echoes our SQL; name the version instead.
    const first = String((err as Error)?.message ?? err)
      .split('\n')[0]!
      .split(`${dir}/`)
      .join('')
      .split(dir)
      .join(v.ref);
    throw new CairnError('INVALID_INPUT', `${v.ref} cannot be read as a table: ${first}`, {
      cause: err,
      hint: 'evaluate on a version holding CSV, TSV, JSON Lines or Parquet files with a header row',
    });
  }
  if (!rows.length) throw new CairnError('INVALID_INPUT', `${v.ref} has no rows`);
  const missing = [suite.data.label, ...suite.data.features].filter((c) => !(c in rows[0]!));
  if (missing.length)
    throw new CairnError('INVALID_INPUT', `${v.ref} has no column(s) ${missing.join(', ')}`, {
      data: { missing, columns: Object.keys(rows[0]!) },
    });
  const { id: versionId, digest } = v.version;
  if (suite.task === 'multiclass') return { ref: v.ref, versionId, digest, data: multiclassData(rows, suite) };
  const n = rows.length;
  const cols = suite.data.features.length;
  const x = new Float32Array(n * cols);
  const y = new Float64Array(n);
  const columns: Record<string, unknown[]> = {};
  for (const k of Object.keys(rows[0]!)) columns[k] = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    y[i] = Number(r[suite.data.label]);
    for (let j = 0; j < cols; j++) x[i * cols + j] = Number(r[suite.data.features[j]!]);
    for (const k of Object.keys(columns)) columns[k]![i] = r[k];
  }
  return { ref: v.ref, versionId, digest, data: { y, x, rows: n, cols, columns } };
}

/** Labels coded by class (sorted class names), x the row index, the features kept as read. */
function multiclassData(rows: Array<Record<string, unknown>>, suite: EvalSuite): Loaded {
  const n = rows.length;
  const labels = rows.map((r, i) => {
    const v = r[suite.data.label];
    if (v === null || v === undefined || typeof v === 'object')
      throw new CairnError('INVALID_INPUT', `row ${i + 1} has no label in ${suite.data.label}`, {
        hint: 'drop or fill rows without a label first (cairn data clean: drop_null)',
        data: { row: i + 1 },
      });
    return String(v);
  });
  const table = classTable(labels);
  const y = Float64Array.from(labels, (l) => table.codes.get(l)!);
  const x = Float32Array.from({ length: n }, (_, i) => i);
  const raw = rows.map((r) => suite.data.features.map((f) => r[f] ?? null));
  const columns: Record<string, unknown[]> = {};
  for (const k of Object.keys(rows[0]!)) columns[k] = rows.map((r) => r[k]);
  return { y, x, rows: n, cols: 1, columns, multiclass: { raw, table } };
}

/** The suite's predictor over a model version's files (materialized once in the cache). */
export async function predictorFor(
  deps: DatasetDeps,
  v: ModelVersionRow,
  suite: EvalSuite,
  mc?: Loaded['multiclass'],
): Promise<{ p: Predictor; dir: string }> {
  const files = await deps.meta.db
    .selectFrom('dataset_versions')
    .select('digest')
    .where('id', '=', v.files_version_id)
    .executeTakeFirstOrThrow();
  const dir = await materializeShared(deps, files.digest, deps.cacheDir);
  const spec = suite.predictor;
  if (spec?.kind === 'command') {
    const codec = mc ? labelCodec(mc.raw, mc.table) : SCORES;
    return {
      p: spec.persistent
        ? persistentCommandPredictor(spec.command, dir, undefined, codec)
        : commandPredictor(spec.command, dir, codec),
      dir,
    };
  }
  if (!spec && v.format !== 'onnx')
    throw new CairnError(
      'INVALID_INPUT',
      `${v.format} models need a command predictor in the suite (predictor: {command: …})`,
    );
  if (mc)
    return {
      p: await onnxLabelPredictor(dir, spec ?? {}, {
        raw: mc.raw,
        features: suite.data.features,
        code: (label) => codeOf(mc.table, label),
      }),
      dir,
    };
  return { p: await onnxPredictor(dir, spec ?? {}), dir };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Runs a suite against a model version on a dataset version and stores the verdict with all
 * its evidence. Every check runs; a missing metric, slice or champion is a failure, never a
 * skip. Returns the report; `passed` is false when any check failed.
 */
/** Progress of an evaluation: `done` of `total` steps (the batch prediction, then each check), and what runs now. */
export type EvalProgress = (done: number, total: number, note: string) => void;

/**
 * Where the suite comes from: a file here, or its text as a client sent it (a server evaluating
 * for a client has no file of its own; `suiteName` is the client's file name, named in errors).
 */
export type SuiteSource = { suitePath: string } | { suiteText: string; suiteName: string };

export async function evaluateModel(
  deps: DatasetDeps,
  ref: string,
  opts: SuiteSource & { data: string; onProgress?: EvalProgress },
): Promise<EvaluationReport> {
  const started = performance.now();
  const { suite, text } = suiteOf(opts);
  const m = await resolveModel(deps, ref);
  const digest = formatDigest(m.version.digest);
  const suiteDigest = formatDigest(sha256Hex(text));
  // Everything from loading the data to storing the verdict is one audited attempt: a
  // predictor that crashes or prints garbage leaves a `failed` model.evaluate event too.
  const draft = {
    action: 'model.evaluate' as const,
    target: { type: 'model', name: m.model.name, version: m.version.number, digest },
    inputs: [digest],
    params: { suite: suite.name, suiteDigest, data: opts.data },
  };
  return deps.audit.audited(draft, async (commit, dr) => {
    const { report, dataVersionId, dataDigest } = await runChecks(deps, m, suite, opts.data, opts.onProgress);
    const passed = report.passed;
    const failed = report.checks.filter((c) => !c.passed);
    Object.assign(report, { suiteDigest, durationMs: Math.round(performance.now() - started) });
    const body = canonicalJson(report);
    const evalId = uuidv7();
    dr.params = {
      evaluation: evalId,
      suite: suite.name,
      suiteDigest,
      data: report.data,
      passed,
      failed: failed.map((c) => c.name),
      report: formatDigest(sha256Hex(body)),
      // What an evaluation travelling by push or pull is checked against (docs/REMOTES.md "Evaluations").
      dataDigest: formatDigest(dataDigest),
    };
    await commit(
      async (tx) => {
        await tx.db
          .insertInto('model_evaluations')
          .values({
            id: evalId,
            version_id: m.version.id,
            suite: suite.name,
            suite_digest: sha256Hex(text),
            data_version_id: dataVersionId,
            passed: passed ? 1 : 0,
            report: body,
            at: report.at,
            by: deps.actor().id,
          })
          .execute();
        await addEdges(tx, evaluationEdges(evalId, m.version.id, dataVersionId, passed, sha256Hex(text), report.at));
      },
      passed ? undefined : { outcome: 'failed', reason: `CHECK_FAILED: ${failed.length} check(s) failed` },
    );
    return report;
  });
}

/** The suite a source names, parsed, with its text (whose digest the verdict records). */
export function suiteOf(src: SuiteSource): { suite: EvalSuite; text: string } {
  if ('suitePath' in src) return readEvalSuite(src.suitePath);
  return { suite: parseEvalSuite(src.suiteText, src.suiteName), text: src.suiteText };
}

/** An evaluation's lineage: the version evaluated (passed or failed, via its suite), and its test set. */
function evaluationEdges(
  evalId: string,
  versionId: string,
  dataVersionId: string,
  passed: boolean,
  suiteHex: string,
  at: string,
): Parameters<typeof addEdges>[1] {
  const edge = { id: uuidv7(), dst_type: 'evaluation', dst_id: evalId, created_at: at };
  return [
    {
      ...edge,
      src_type: 'model_version',
      src_id: versionId,
      relation: passed ? 'passed' : 'failed',
      via_type: 'suite',
      via_id: suiteHex,
    },
    {
      ...edge,
      id: uuidv7(),
      src_type: 'dataset_version',
      src_id: dataVersionId,
      relation: 'evaluated_on',
      via_type: null,
      via_id: null,
    },
  ];
}

/** Reads and parses an evaluation suite; a file that cannot be read is an IO_ERROR naming it. */
export function readEvalSuite(path: string): { suite: EvalSuite; text: string } {
  const text = readSpecFile(path, 'the evaluation suite');
  return { suite: parseEvalSuite(text, basename(path)), text };
}

/** What measuring a check needs: the data, the candidate's predictions and predictor, and its champions. */
interface Bench {
  deps: DatasetDeps;
  m: Awaited<ReturnType<typeof resolveModel>>;
  data: Loaded;
  scores: Float64Array;
  predictor: Predictor;
  /** Seconds the batch prediction over every row took. */
  batchS: number;
  dir: string;
  champion(against: string): Promise<{ ref: string; scores: Float64Array; version: ModelVersionRow } | null>;
}

/**
 * Loads the data, runs the predictor, measures every check and has `judge` give the verdict;
 * `suiteDigest` and `durationMs` are filled in by the caller.
 */
async function runChecks(
  deps: DatasetDeps,
  m: Awaited<ReturnType<typeof resolveModel>>,
  suite: EvalSuite,
  dataRefIn: string,
  onProgress: EvalProgress = () => {},
): Promise<{ report: EvaluationReport; dataVersionId: string; dataDigest: string }> {
  const { ref: dataRef, versionId: dataVersionId, digest: dataDigest, data } = await loadData(deps, dataRefIn, suite);
  const steps = suite.checks.length + 1;
  onProgress(0, steps, `predicting ${data.rows} rows`);
  const { p: predictor, dir } = await predictorFor(deps, m.version, suite, data.multiclass);
  const t0 = performance.now();
  let scores: Float64Array;
  try {
    scores = await predictor.predict(data.x, data.rows, data.cols);
  } catch (err) {
    await predictor.close();
    throw err;
  }
  const batchS = (performance.now() - t0) / 1000;
  const bench: Bench = { deps, m, data, scores, predictor, batchS, dir, champion: championsOf(deps, m, suite, data) };
  const evidence: Evidence[] = [];
  for (const [i, c] of suite.checks.entries()) {
    onProgress(i + 1, steps, c.name);
    try {
      evidence.push(await measure(c, bench));
    } catch (err) {
      evidence.push({ kind: 'error', message: (err as Error).message });
    }
  }
  await predictor.close();
  onProgress(steps, steps, 'judging');
  const verdict = judge(evidence, suite);
  const report: EvaluationReport = {
    format: 'cairn.evaluation/v1',
    model: m.ref,
    digest: formatDigest(m.version.digest),
    suite: suite.name,
    suiteDigest: '',
    data: dataRef,
    rows: data.rows,
    passed: verdict.passed,
    checks: verdict.checks,
    metrics: verdict.metrics,
    at: isoUtc(deps.clock.now()),
    durationMs: 0,
  };
  return { report, dataVersionId, dataDigest };
}

/** The versions checks compare with (`against`), each predicted once; null when there is none. */
function championsOf(deps: DatasetDeps, m: Bench['m'], suite: EvalSuite, data: Loaded): Bench['champion'] {
  const champions = new Map<string, { ref: string; scores: Float64Array; version: ModelVersionRow } | null>();
  return async (against) => {
    if (!champions.has(against)) {
      try {
        const c = await resolveModel(deps, against.includes('@') ? against : `${m.model.name}@${against}`);
        const cp = await predictorFor(deps, c.version, suite, data.multiclass);
        try {
          champions.set(against, {
            ref: c.ref,
            scores: await cp.p.predict(data.x, data.rows, data.cols),
            version: c.version,
          });
        } finally {
          await cp.p.close();
        }
      } catch (err) {
        if (!(err instanceof CairnError && err.code === 'NOT_FOUND')) throw err;
        champions.set(against, null);
      }
    }
    return champions.get(against)!;
  };
}

/** Measures one check (no verdict: that is `judge`'s). */
async function measure(c: EvalCheck, b: Bench): Promise<Evidence> {
  const { data, scores } = b;
  switch (c.kind) {
    case 'metric':
      return { kind: 'metric', value: getMetric(c.metric).compute(data.y, scores) };
    case 'non_regression': {
      const ch = await b.champion(c.against);
      if (!ch) return { kind: 'non_regression', champion: null };
      const delta = pairedBootstrapDelta(c.metric, data.y, scores, ch.scores, {
        resamples: c.resamples,
        confidence: c.confidence,
        seed: c.seed,
      });
      return { kind: 'non_regression', champion: ch.ref, delta };
    }
    case 'slice': {
      const required = c.slices.map((s) => ({ [c.by[0]!]: s }));
      const bounds = { ...(c.min !== undefined ? { min: c.min } : {}), ...(c.max !== undefined ? { max: c.max } : {}) };
      const report = sliceReport({
        y: data.y,
        p: scores,
        columns: data.columns,
        by: c.by,
        checks: [{ metric: c.metric, ...bounds }],
        ...(c.by.length === 1 && required.length ? { required } : {}),
      });
      return { kind: 'slice', report };
    }
    case 'fairness': {
      const g = fairnessGaps({ y: data.y, p: scores, columns: data.columns, by: [c.by] });
      return { kind: 'fairness', gap: c.measure === 'demographic_parity' ? g.demographicParity : g.equalOpportunity };
    }
    case 'latency':
      return measureLatency(b);
    case 'size': {
      const fv = await b.deps.meta.db
        .selectFrom('dataset_versions')
        .select('total_bytes')
        .where('id', '=', b.m.version.files_version_id)
        .executeTakeFirstOrThrow();
      return { kind: 'size', bytes: Number(fv.total_bytes) };
    }
    case 'schema': {
      const ch = await b.champion(c.against);
      if (!ch) return { kind: 'schema', champion: null };
      return {
        kind: 'schema',
        champion: ch.ref,
        championInputs: inputNames(ch.version),
        candidateInputs: inputNames(b.m.version),
      };
    }
    case 'smoke': {
      const got: number[] = [];
      for (const sc of c.cases)
        got.push((await b.predictor.predict(Float32Array.from(sc.features), 1, sc.features.length))[0]!);
      return { kind: 'smoke', got };
    }
    case 'command': {
      const r = spawnSync('/bin/sh', ['-c', c.run], {
        cwd: b.dir,
        env: { ...process.env, CAIRN_MODEL_DIR: b.dir, CAIRN_MODEL: b.m.ref },
        encoding: 'utf8',
        timeout: 600_000,
      });
      return { kind: 'command', exit: r.status, stdout: r.stdout, stderr: r.stderr };
    }
  }
}

/** Single-row latency over up to 200 rows, and the batch throughput already measured. */
async function measureLatency(b: Bench): Promise<Evidence> {
  const { data } = b;
  const one = new Float32Array(data.cols);
  const times: number[] = [];
  const sample = Math.min(200, data.rows);
  for (let i = 0; i < sample; i++) {
    one.set(data.x.subarray(i * data.cols, (i + 1) * data.cols));
    const s = performance.now();
    await b.predictor.predict(one, 1, data.cols);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return {
    kind: 'latency',
    p50Ms: percentile(times, 0.5),
    p95Ms: percentile(times, 0.95),
    rowsPerS: data.rows / b.batchS,
    sample,
  };
}

function inputNames(v: ModelVersionRow): string[] | null {
  return v.signature
    ? ((JSON.parse(v.signature) as { inputs: Array<{ name: string }> }).inputs ?? []).map((i) => i.name)
    : null;
}

export function evaluationJUnit(r: EvaluationReport): string {
  const esc = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const cases = r.checks.map(
    (c) =>
      `    <testcase classname="${esc(r.suite)}" name="${esc(c.name)}">${c.passed ? '' : `<failure message="${esc(c.message)}"/>`}</testcase>`,
  );
  const failures = r.checks.filter((c) => !c.passed).length;
  const suite = `<testsuite name="${esc(`${r.model} ${r.suite}`)}" tests="${r.checks.length}" failures="${failures}">`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  ${suite}\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

const REPORT_STYLE = [
  '<style>body{font:14px system-ui;margin:2em}td{padding:4px 8px;border-bottom:1px solid #ddd}',
  '.bad td:first-child{color:#b00;font-weight:bold}.ok td:first-child{color:#070}</style>',
].join('');

export function evaluationHtml(r: EvaluationReport): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = r.checks
    .map(
      (c) =>
        `<tr class="${c.passed ? 'ok' : 'bad'}"><td>${c.passed ? 'passed' : 'FAILED'}</td><td>${esc(c.name)}</td><td>${esc(c.message)}</td></tr>`,
    )
    .join('\n');
  return [
    `<!doctype html><meta charset="utf-8"><title>${esc(r.model)} — ${esc(r.suite)}</title>`,
    REPORT_STYLE,
    `<h1>${esc(r.model)}: ${r.passed ? 'passed' : 'FAILED'}</h1>`,
    `<p>Suite ${esc(r.suite)} (${r.suiteDigest}) on ${esc(r.data)}, ${r.rows} rows, ${r.at}</p>`,
    `<table>${rows}</table>\n`,
  ].join('');
}
