// Multiclass gates through ONNX Runtime: real ONNX models (ai.onnx.ml LabelEncoder and
// LinearClassifier, written by src/test-support/onnx-ml.ts) that take a text feature or numbers
// and answer text labels; multiclass_accuracy and macro-F1 against values computed here by
// hand; a non-regression against production; and the errors a mismatched model gets.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { labelEncoderOnnx, linearClassifierOnnx } from '../../test-support/onnx-ml.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace } from '../../test-support/workspace.js';
import { promote } from '../aliases.js';
import { registerModel } from '../registry.js';
import { evaluateModel } from './evaluate.js';

// island decides the species except on Dream, where the bill length does.
function penguins(): { csv: string; rows: Array<{ island: string; bill: number; species: string }> } {
  const rows = [];
  for (let i = 0; i < 300; i++) {
    const island = ['Torgersen', 'Biscoe', 'Dream'][i % 3]!;
    const bill = 35 + ((i * 7) % 20);
    const species =
      island === 'Torgersen' ? 'Adelie' : island === 'Biscoe' ? 'Gentoo' : bill > 44 ? 'Chinstrap' : 'Adelie';
    rows.push({ island, bill, species });
  }
  const csv = `island,bill,species\n${rows.map((r) => `${r.island},${r.bill},${r.species}`).join('\n')}\n`;
  return { csv, rows };
}

function macroF1(actual: readonly string[], predicted: readonly string[]): number {
  const classes = [...new Set([...actual, ...predicted])];
  let sum = 0;
  for (const k of classes) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    actual.forEach((a, i) => {
      const p = predicted[i];
      if (a === k && p === k) tp++;
      else if (p === k) fp++;
      else if (a === k) fn++;
    });
    sum += (2 * tp) / (2 * tp + fp + fn);
  }
  return sum / classes.length;
}

describe('multiclass evaluation of ONNX models', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  async function setup() {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    const { csv, rows } = penguins();
    mkdirSync(join(root, 'test'));
    writeFileSync(join(root, 'test', 'test.csv'), csv);
    await addVersion(ws, { source: join(root, 'test'), name: 'penguins' });
    const register = async (name: string, onnx: Buffer) => {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'model.onnx'), onnx);
      return registerModel(ws, { name: 'species', path: join(root, name) });
    };
    const suite = (body: string, features = 'island, bill') => {
      const p = join(root, `suite-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(p, `suite: species\ntask: multiclass\ndata: {label: species, features: [${features}]}\n${body}`);
      return p;
    };
    return { root, ws, rows, register, suite };
  }

  it('a text feature in, text labels out; then numbers in, a better model, gated against production', async () => {
    const { ws, rows, register, suite } = await setup();
    const y = rows.map((r) => r.species);
    // v1: the island alone (a lookup over the text feature); Dream is always "Adelie".
    await register('v1', labelEncoderOnnx('island', { Torgersen: 'Adelie', Biscoe: 'Gentoo' }, 'Adelie'));
    const p1 = rows.map((r) => (r.island === 'Biscoe' ? 'Gentoo' : 'Adelie'));
    const checks = '  - metric: {name: multiclass_accuracy, min: 0.9}\n  - metric: {name: macro_f1, min: 0.9}\n';
    const v1 = await evaluateModel(ws, 'species@v1', { suitePath: suite(`checks:\n${checks}`), data: 'penguins' });
    const acc = (p: string[]) => p.filter((v, i) => v === y[i]).length / y.length;
    expect(v1.metrics.multiclass_accuracy).toBeCloseTo(acc(p1), 12);
    expect(v1.metrics.macro_f1).toBeCloseTo(macroF1(y, p1), 12);
    expect(acc(p1)).toBeLessThan(0.9);
    expect(v1.passed).toBe(false);
    await promote(ws, 'species@v1', 'production');

    // v2: the bill length through a linear classifier (numbers in, text out): Chinstrap above
    // 44.5 mm, never Gentoo — better on Dream, wrong on every Biscoe row.
    await register(
      'v2',
      linearClassifierOnnx('bill', ['Adelie', 'Chinstrap', 'Gentoo'], [[0], [1], [0]], [0, -44.5, -1000]),
    );
    const p2 = rows.map((r) => (r.bill > 44.5 ? 'Chinstrap' : 'Adelie'));
    const gate = suite(
      `checks:\n${checks}  - non_regression: {metric: macro_f1, against: production, resamples: 200}\n  - latency: {p95_ms: 50}\n`,
    );
    const v2 = await evaluateModel(ws, 'species@v2', { suitePath: gate, data: 'penguins' });
    expect(v2.metrics.multiclass_accuracy).toBeCloseTo(acc(p2), 12);
    expect(v2.metrics.macro_f1).toBeCloseTo(macroF1(y, p2), 12);
    const nr = v2.checks.find((c) => c.kind === 'non_regression')!;
    // The bootstrap's point estimate is the plain difference of the two models' macro-F1.
    expect((nr.evidence.delta as { value: number }).value).toBeCloseTo(macroF1(y, p2) - macroF1(y, p1), 12);
    expect(v2.checks.find((c) => c.kind === 'latency')!.passed).toBe(true);
  });

  it('a model with one input of another name gets every feature in it, all text or all numbers', async () => {
    const { ws, rows, register, suite } = await setup();
    await register('v1', labelEncoderOnnx('x', { Dream: 'Chinstrap' }, 'Adelie'));
    const check = 'checks:\n  - metric: {name: multiclass_accuracy, min: 0.1}\n';
    // island is text and bill a number: one tensor cannot hold both, and the error says so.
    await expect(evaluateModel(ws, 'species@v1', { suitePath: suite(check), data: 'penguins' })).rejects.toThrow(
      /ONNX input x takes one tensor, but its features mix text and numbers/,
    );
    // With island alone the same model runs: Dream → Chinstrap, anything else → Adelie.
    const only = suite(check, 'island');
    const r = await evaluateModel(ws, 'species@v1', { suitePath: only, data: 'penguins' });
    const p = rows.map((x) => (x.island === 'Dream' ? 'Chinstrap' : 'Adelie'));
    expect(r.metrics.multiclass_accuracy).toBeCloseTo(
      p.filter((v, i) => v === rows[i]!.species).length / rows.length,
      12,
    );
  });
});
