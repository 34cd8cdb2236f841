import type { Node } from 'yaml';
import { SpecReader, type ItemSpec } from '../../core/yaml-doc.js';
import { getMetric } from './metrics/metrics.js';

/** An evaluation suite (docs/MODELS.md "Evaluation suites"). */
export interface EvalSuite {
  name: string;
  task: 'classification' | 'regression';
  data: { label: string; features: string[] };
  predictor:
    { kind: 'onnx'; file?: string; input?: string; output?: string } | { kind: 'command'; command: string } | null;
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

export function parseEvalSuite(text: string, fileName: string): EvalSuite {
  const r = new SpecReader(text, fileName);
  const top = r.top(['suite', 'task', 'data', 'predictor', 'checks']);
  const s = (k: string) =>
    top.get(k)
      ? (r.value(top.get(k)!, top.get(k)!.value as Node, { type: 'string' }, k) as string | undefined)
      : undefined;
  const name = s('suite') ?? '';
  if (!top.get('suite')) r.errors.push(`${fileName}:1: "suite" (its name) is required`);
  const task = (
    top.get('task')
      ? r.value(
          top.get('task')!,
          top.get('task')!.value as Node,
          { type: 'string', oneOf: ['classification', 'regression'] },
          'task',
        )
      : 'classification'
  ) as EvalSuite['task'];
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
  const predPair = top.get('predictor');
  let predictor: EvalSuite['predictor'] = null;
  if (predPair) {
    const p =
      r.fields(
        predPair,
        predPair.value as Node,
        {
          onnx: { type: 'string' },
          input: { type: 'string' },
          output: { type: 'string' },
          command: { type: 'string' },
        },
        'predictor',
      ) ?? {};
    if (p.command && p.onnx) r.error(predPair, 'predictor: give onnx or command, not both');
    predictor = p.command
      ? { kind: 'command', command: p.command as string }
      : {
          kind: 'onnx',
          ...(p.onnx ? { file: p.onnx as string } : {}),
          ...(p.input ? { input: p.input as string } : {}),
          ...(p.output ? { output: p.output as string } : {}),
        };
  }
  const items = r.items(top.get('checks'), CHECKS, 'checks', { name: { type: 'string' } });
  const checks: EvalCheck[] = [];
  const metricOk = (m: unknown, line: number) => {
    try {
      getMetric(String(m));
      return true;
    } catch (err) {
      r.errors.push(`${fileName}:${line}: ${(err as Error).message}`);
      return false;
    }
  };
  for (const it of items) {
    const p = it.params as Record<string, unknown>;
    const nameOf = (fallback: string) => (p.name as string | undefined) ?? fallback;
    switch (it.kind) {
      case 'metric':
        if (metricOk(p.name, it.line))
          checks.push({
            kind: 'metric',
            line: it.line,
            name: `metric(${String(p.name)})`,
            metric: p.name as string,
            ...(p.min !== undefined ? { min: p.min as number } : {}),
            ...(p.max !== undefined ? { max: p.max as number } : {}),
          });
        break;
      case 'non_regression':
        if (metricOk(p.metric, it.line))
          checks.push({
            kind: 'non_regression',
            line: it.line,
            name: nameOf(`non_regression(${String(p.metric)} vs ${String(p.against)})`),
            metric: p.metric as string,
            against: p.against as string,
            margin: (p.margin as number | undefined) ?? 0,
            resamples: (p.resamples as number | undefined) ?? 1000,
            confidence: (p.confidence as number | undefined) ?? 0.95,
            seed: (p.seed as number | undefined) ?? 0,
          });
        break;
      case 'slice':
        if (metricOk(p.metric, it.line))
          checks.push({
            kind: 'slice',
            line: it.line,
            name: nameOf(`slice(${(p.by as string[]).join(',')}: ${String(p.metric)})`),
            by: p.by as string[],
            metric: p.metric as string,
            slices: (p.slices as string[] | undefined) ?? [],
            ...(p.min !== undefined ? { min: p.min as number } : {}),
            ...(p.max !== undefined ? { max: p.max as number } : {}),
          });
        break;
      case 'fairness':
        checks.push({
          kind: 'fairness',
          line: it.line,
          name: nameOf(`fairness(${String(p.measure)} by ${String(p.by)})`),
          by: p.by as string,
          measure: p.measure as 'demographic_parity',
          max: p.max as number,
        });
        break;
      case 'latency':
        checks.push({
          kind: 'latency',
          line: it.line,
          name: nameOf('latency'),
          ...(p.p50_ms !== undefined ? { p50Ms: p.p50_ms as number } : {}),
          ...(p.p95_ms !== undefined ? { p95Ms: p.p95_ms as number } : {}),
          ...(p.min_rows_per_s !== undefined ? { minRowsPerS: p.min_rows_per_s as number } : {}),
        });
        break;
      case 'size':
        checks.push({ kind: 'size', line: it.line, name: nameOf('size'), max: p.max as number });
        break;
      case 'schema':
        checks.push({
          kind: 'schema',
          line: it.line,
          name: nameOf(`schema(vs ${String(p.against)})`),
          against: p.against as string,
        });
        break;
      case 'smoke': {
        const cases = ((p.cases as unknown[] | undefined) ?? []) as Array<{
          features: number[];
          expect: number;
          tolerance?: number;
        }>;
        if (!cases.length || !cases.every((c) => c && Array.isArray(c.features) && typeof c.expect === 'number'))
          r.errors.push(
            `${fileName}:${it.line}: smoke needs cases: [{features: [..], expect: <number>, tolerance: <number>}]`,
          );
        checks.push({
          kind: 'smoke',
          line: it.line,
          name: nameOf('smoke'),
          cases: cases.map((c) => ({ features: c.features, expect: c.expect, tolerance: c.tolerance ?? 1e-6 })),
        });
        break;
      }
      case 'command':
        checks.push({
          kind: 'command',
          line: it.line,
          name: nameOf(`command(${String(p.run).slice(0, 40)})`),
          run: p.run as string,
          format: (p.format as 'junit' | 'json' | undefined) ?? 'json',
        });
        break;
    }
  }
  r.done('evaluation suite');
  return { name, task, data: { label: data.label as string, features: data.features as string[] }, predictor, checks };
}
