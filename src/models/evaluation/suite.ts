import type { Node, Pair } from 'yaml';
import { SpecReader, type ItemSpec, type ParsedItem } from '../../core/yaml-doc.js';
import { getMetric } from './metrics/metrics.js';

/** An evaluation suite (docs/MODELS.md "Evaluation suites"). */
export interface EvalSuite {
  name: string;
  /** `multiclass`: text labels and features; a command predictor or an ONNX model answers labels (multiclass.ts). */
  task: 'classification' | 'regression' | 'multiclass';
  data: { label: string; features: string[] };
  predictor:
    | { kind: 'onnx'; file?: string; input?: string; output?: string }
    | { kind: 'command'; command: string; persistent: boolean }
    | null;
  checks: EvalCheck[];
}

export type EvalCheck = { line: number; name: string } & (
  | { kind: 'metric'; metric: string; min?: number; max?: number }
  | {
      kind: 'non_regression';
      metric: string;
      against: string;
      margin: number;
      resamples: number;
      confidence: number;
      seed: number;
      /** No version under `against` yet (the first model): fail (default) or pass, said in the verdict. */
      whenMissing: 'pass' | 'fail';
    }
  | { kind: 'slice'; by: string[]; metric: string; min?: number; max?: number; slices: string[] }
  | { kind: 'fairness'; by: string; measure: 'demographic_parity' | 'equal_opportunity'; max: number }
  | { kind: 'latency'; p50Ms?: number; p95Ms?: number; minRowsPerS?: number }
  | { kind: 'size'; max: number }
  | { kind: 'schema'; against: string }
  | { kind: 'smoke'; cases: Array<{ features: number[]; expect: number; tolerance: number }> }
  | { kind: 'command'; run: string; format: 'junit' | 'json' }
);

const CHECKS: Record<EvalCheck['kind'], ItemSpec> = {
  metric: { fields: { name: { type: 'string', required: true }, min: { type: 'number' }, max: { type: 'number' } } },
  non_regression: {
    fields: {
      metric: { type: 'string', required: true },
      against: { type: 'string', required: true },
      margin: { type: 'number' },
      resamples: { type: 'integer' },
      confidence: { type: 'number' },
      seed: { type: 'integer' },
      when_missing: { type: 'string', oneOf: ['pass', 'fail'] },
    },
  },
  slice: {
    fields: {
      by: { type: 'string[]', required: true },
      metric: { type: 'string', required: true },
      min: { type: 'number' },
      max: { type: 'number' },
      slices: { type: 'string[]' },
    },
  },
  fairness: {
    fields: {
      by: { type: 'string', required: true },
      measure: { type: 'string', oneOf: ['demographic_parity', 'equal_opportunity'], required: true },
      max: { type: 'number', required: true },
    },
  },
  latency: { fields: { p50_ms: { type: 'number' }, p95_ms: { type: 'number' }, min_rows_per_s: { type: 'number' } } },
  size: { fields: { max: { type: 'size', required: true } } },
  schema: { fields: { against: { type: 'string', required: true } } },
  smoke: { fields: { cases: { type: 'list', required: true } } },
  command: {
    fields: { run: { type: 'string', required: true }, format: { type: 'string', oneOf: ['junit', 'json'] } },
  },
};

/**
 * Each section's parser adds its problems to the reader, in file order, and `done` reports
 * them all at once: one pass names every mistake in the file.
 */
export function parseEvalSuite(text: string, fileName: string): EvalSuite {
  const r = new SpecReader(text, fileName);
  const top = r.top(['suite', 'task', 'data', 'predictor', 'checks']);
  const nameValue = top.get('suite') ? stringAt(r, top, 'suite') : undefined;
  const name = nameValue ?? '';
  if (!top.get('suite')) r.errors.push(`${fileName}:1: "suite" (its name) is required`);
  const task = parseTask(r, top);
  const data = parseData(r, top, fileName);
  const predictor = parsePredictor(r, top);
  const checks = parseChecks(r, top, fileName);
  if (task === 'multiclass') checkMulticlass(r, fileName, checks);
  r.done('evaluation suite');
  return { name, task, data: { label: data.label as string, features: data.features as string[] }, predictor, checks };
}

type Top = Map<string, Pair>;

function stringAt(r: SpecReader, top: Top, k: string): string | undefined {
  return r.value(top.get(k)!, top.get(k)!.value as Node, { type: 'string' }, k) as string | undefined;
}

function parseTask(r: SpecReader, top: Top): EvalSuite['task'] {
  return (
    top.get('task')
      ? r.value(
          top.get('task')!,
          top.get('task')!.value as Node,
          { type: 'string', oneOf: ['classification', 'regression', 'multiclass'] },
          'task',
        )
      : 'classification'
  ) as EvalSuite['task'];
}

const MULTICLASS_KINDS = new Set(['metric', 'non_regression', 'latency', 'size', 'schema', 'command']);

/** What a multiclass suite can hold: label metrics, and checks that do not need scores. */
function checkMulticlass(r: SpecReader, fileName: string, checks: EvalCheck[]) {
  // No predictor check here: an ONNX model answers labels itself (its label output), and a
  // model of another format without a command is refused when evaluation sees it.
  for (const c of checks) {
    if (!MULTICLASS_KINDS.has(c.kind))
      r.errors.push(`${fileName}:${c.line}: ${c.kind} checks are not available with task: multiclass`);
    const metric = c.kind === 'metric' ? c.metric : c.kind === 'non_regression' ? c.metric : null;
    if (metric && getMetric(metric).input !== 'labels')
      r.errors.push(
        `${fileName}:${c.line}: ${metric} needs scores; with task: multiclass use multiclass_accuracy or macro_f1`,
      );
  }
}

function parseData(r: SpecReader, top: Top, fileName: string): Record<string, unknown> {
  const dataPair = top.get('data');
  const data = dataPair
    ? (r.fields(
        dataPair,
        dataPair.value as Node,
        { label: { type: 'string', required: true }, features: { type: 'string[]', required: true } },
        'data',
      ) ?? {})
    : {};
  if (!dataPair) r.errors.push(`${fileName}:1: "data" (label and feature columns) is required`);
  return data;
}

function parsePredictor(r: SpecReader, top: Top): EvalSuite['predictor'] {
  const predPair = top.get('predictor');
  if (!predPair) return null;
  const p =
    r.fields(
      predPair,
      predPair.value as Node,
      {
        onnx: { type: 'string' },
        input: { type: 'string' },
        output: { type: 'string' },
        command: { type: 'string' },
        persistent: { type: 'boolean' },
      },
      'predictor',
    ) ?? {};
  if (p.command && p.onnx) r.error(predPair, 'predictor: give onnx or command, not both');
  if (p.persistent !== undefined && !p.command) r.error(predPair, 'predictor: persistent applies to a command');
  return p.command
    ? { kind: 'command', command: p.command as string, persistent: p.persistent === true }
    : {
        kind: 'onnx',
        ...(p.onnx ? { file: p.onnx as string } : {}),
        ...(p.input ? { input: p.input as string } : {}),
        ...(p.output ? { output: p.output as string } : {}),
      };
}

function parseChecks(r: SpecReader, top: Top, fileName: string): EvalCheck[] {
  const items = r.items(top.get('checks'), CHECKS, 'checks', { name: { type: 'string' } });
  const checks: EvalCheck[] = [];
  const problem = (line: number, msg: string) => r.errors.push(`${fileName}:${line}: ${msg}`);
  for (const it of items) {
    // Only own keys: a kind like `constructor` passes the reader on Object.prototype and is left out.
    if (!Object.hasOwn(CHECK_BY_KIND, it.kind)) continue;
    // One parser per kind; the table's type ties each to its own kind, so this call is the only cast.
    const parse = CHECK_BY_KIND[it.kind as EvalCheck['kind']] as (x: CheckInput) => EvalCheck | null;
    const check = parse(checkInput(it, problem));
    if (check) checks.push(check);
  }
  return checks;
}

function checkInput(it: ParsedItem, problem: (line: number, msg: string) => void) {
  const p = it.params as Record<string, unknown>;
  const nameOf = (fallback: string) => (p.name as string | undefined) ?? fallback;
  // An unknown metric is reported and its check left out, so the other checks still parse.
  const metricOk = (m: unknown) => {
    try {
      getMetric(String(m));
      return true;
    } catch (err) {
      problem(it.line, (err as Error).message);
      return false;
    }
  };
  return { p, line: it.line, nameOf, metricOk, problem: (msg: string) => problem(it.line, msg) };
}

type CheckInput = ReturnType<typeof checkInput>;

const CHECK_BY_KIND: { [K in EvalCheck['kind']]: (x: CheckInput) => Extract<EvalCheck, { kind: K }> | null } = {
  metric: ({ p, line, metricOk }) =>
    metricOk(p.name)
      ? {
          kind: 'metric',
          line,
          name: `metric(${String(p.name)})`,
          metric: p.name as string,
          ...(p.min !== undefined ? { min: p.min as number } : {}),
          ...(p.max !== undefined ? { max: p.max as number } : {}),
        }
      : null,
  non_regression: ({ p, line, nameOf, metricOk }) =>
    metricOk(p.metric)
      ? {
          kind: 'non_regression',
          line,
          name: nameOf(`non_regression(${String(p.metric)} vs ${String(p.against)})`),
          metric: p.metric as string,
          against: p.against as string,
          margin: (p.margin as number | undefined) ?? 0,
          resamples: (p.resamples as number | undefined) ?? 1000,
          confidence: (p.confidence as number | undefined) ?? 0.95,
          seed: (p.seed as number | undefined) ?? 0,
          whenMissing: (p.when_missing as 'pass' | 'fail' | undefined) ?? 'fail',
        }
      : null,
  slice: ({ p, line, nameOf, metricOk }) =>
    metricOk(p.metric)
      ? {
          kind: 'slice',
          line,
          name: nameOf(`slice(${(p.by as string[]).join(',')}: ${String(p.metric)})`),
          by: p.by as string[],
          metric: p.metric as string,
          slices: (p.slices as string[] | undefined) ?? [],
          ...(p.min !== undefined ? { min: p.min as number } : {}),
          ...(p.max !== undefined ? { max: p.max as number } : {}),
        }
      : null,
  fairness: ({ p, line, nameOf }) => ({
    kind: 'fairness',
    line,
    name: nameOf(`fairness(${String(p.measure)} by ${String(p.by)})`),
    by: p.by as string,
    measure: p.measure as 'demographic_parity',
    max: p.max as number,
  }),
  latency: ({ p, line, nameOf }) => ({
    kind: 'latency',
    line,
    name: nameOf('latency'),
    ...(p.p50_ms !== undefined ? { p50Ms: p.p50_ms as number } : {}),
    ...(p.p95_ms !== undefined ? { p95Ms: p.p95_ms as number } : {}),
    ...(p.min_rows_per_s !== undefined ? { minRowsPerS: p.min_rows_per_s as number } : {}),
  }),
  size: ({ p, line, nameOf }) => ({ kind: 'size', line, name: nameOf('size'), max: p.max as number }),
  schema: ({ p, line, nameOf }) => ({
    kind: 'schema',
    line,
    name: nameOf(`schema(vs ${String(p.against)})`),
    against: p.against as string,
  }),
  smoke: smokeCheck,
  command: ({ p, line, nameOf }) => ({
    kind: 'command',
    line,
    name: nameOf(`command(${String(p.run).slice(0, 40)})`),
    run: p.run as string,
    format: (p.format as 'junit' | 'json' | undefined) ?? 'json',
  }),
};

function smokeCheck({ p, line, nameOf, problem }: CheckInput): Extract<EvalCheck, { kind: 'smoke' }> {
  const cases = ((p.cases as unknown[] | undefined) ?? []) as Array<{
    features: number[];
    expect: number;
    tolerance?: number;
  }>;
  if (!cases.length || !cases.every((c) => c && Array.isArray(c.features) && typeof c.expect === 'number'))
    problem('smoke needs cases: [{features: [..], expect: <number>, tolerance: <number>}]');
  return {
    kind: 'smoke',
    line,
    name: nameOf('smoke'),
    cases: cases.map((c) => ({ features: c.features, expect: c.expect, tolerance: c.tolerance ?? 1e-6 })),
  };
}
