// Multiclass gates end to end: text labels and a text feature, a Python predictor that answers
// labels (one-shot and persistent), multiclass_accuracy and macro-F1 against values computed
// here by hand, a non-regression against production, and a suite that asks for score metrics
// refused up front.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace } from '../../test-support/workspace.js';
import { promote } from '../aliases.js';
import { registerModel } from '../registry.js';
import { evaluateModel } from './evaluate.js';
import { getMetric } from './metrics/metrics.js';
import { encodeLabels } from './metrics/metrics.js';
import { parseEvalSuite } from './suite.js';

const PYTHON = '/usr/bin/python3';

/** Macro-F1 straight from the definition, for tests: per class 2·TP / (2·TP + FP + FN), averaged. */
function macroF1Reference(actual: readonly string[], predicted: readonly string[]): number {
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

// island decides the species except on Dream, where the bill length does: a rule model that
// ignores Dream's bills (v1) misses Chinstraps; v2 uses them.
function penguins(): { csv: string; y: string[] } {
  const lines = ['island,bill,species'];
  const y: string[] = [];
  for (let i = 0; i < 300; i++) {
    const island = ['Torgersen', 'Biscoe', 'Dream'][i % 3]!;
    const bill = 35 + ((i * 7) % 20);
    const species =
      island === 'Torgersen' ? 'Adelie' : island === 'Biscoe' ? 'Gentoo' : bill > 44 ? 'Chinstrap' : 'Adelie';
    lines.push(`${island},${bill},${species}`);
    y.push(species);
  }
  return { csv: `${lines.join('\n')}\n`, y };
}

const MODEL = (useBill: boolean) => `import json, sys
for line in sys.stdin:
    island, bill = json.loads(line)["features"]
    label = {"Torgersen": "Adelie", "Biscoe": "Gentoo"}.get(island) or ("Chinstrap" if ${useBill ? 'bill > 44' : 'False'} else "Adelie")
    print(json.dumps({"label": label}) if bill % 2 else json.dumps(label), flush=True)
`;

describe('macro_f1', () => {
  it('is the mean of per-class F1 over the classes present, as scikit-learn computes it; weights count rows', () => {
    // sklearn: f1_score(["a","b","a","c"], ["a","a","a","c"], average="macro") == 0.6
    const { y, p } = encodeLabels(['a', 'b', 'a', 'c'], ['a', 'a', 'a', 'c']);
    const m = getMetric('macro_f1');
    expect(m.compute(y, p)).toBeCloseTo(0.6, 12);
    expect(m.compute(y, p)).toBeCloseTo(macroF1Reference(['a', 'b', 'a', 'c'], ['a', 'a', 'a', 'c']), 12);
    // Row 1 counted 0 times, row 0 twice: classes a and c only, a perfect.
    expect(m.prepare(y, p).evaluate(Uint32Array.from([2, 0, 1, 1]))).toBeCloseTo(1, 12);
    expect(m.higherIsBetter).toBe(true);
  });
});

describe.skipIf(!existsSync(PYTHON))('multiclass evaluation', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  it('gates string labels with multiclass_accuracy and macro_f1, one-shot and persistent', async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    const { csv, y } = penguins();
    mkdirSync(join(root, 'test'));
    writeFileSync(join(root, 'test', 'test.csv'), csv);
    await addVersion(ws, { source: join(root, 'test'), name: 'penguins' });
    for (const [name, useBill] of [
      ['v1', false],
      ['v2', true],
    ] as const) {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'predict.py'), MODEL(useBill));
      await registerModel(ws, { name: 'species', path: join(root, name) });
    }
    const suite = (persistent: boolean, extra = '') => {
      const p = join(root, `suite-${persistent}.yaml`);
      writeFileSync(
        p,
        `suite: species\ntask: multiclass\ndata: {label: species, features: [island, bill]}\npredictor: {command: "${PYTHON} predict.py", persistent: ${persistent}}\nchecks:\n  - metric: {name: multiclass_accuracy, min: 0.9}\n  - metric: {name: macro_f1, min: 0.9}\n${extra}`,
      );
      return p;
    };
    // Expected values by hand from the rule itself.
    const predicted = (useBill: boolean) =>
      csv
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => {
          const [island, bill] = l.split(',');
          if (island === 'Torgersen') return 'Adelie';
          if (island === 'Biscoe') return 'Gentoo';
          return useBill && Number(bill) > 44 ? 'Chinstrap' : 'Adelie';
        });
    const acc = (p: string[]) => p.filter((v, i) => v === y[i]).length / y.length;

    const v1 = await evaluateModel(ws, 'species@v1', { suitePath: suite(false), data: 'penguins' });
    expect(v1.metrics.multiclass_accuracy).toBeCloseTo(acc(predicted(false)), 12);
    expect(v1.metrics.macro_f1).toBeCloseTo(macroF1Reference(y, predicted(false)), 12);
    expect(v1.passed).toBe(false);
    await promote(ws, 'species@v1', 'production');

    const gate = suite(
      true,
      '  - non_regression: {metric: macro_f1, against: production, resamples: 200}\n  - latency: {p95_ms: 50}\n',
    );
    const progress: Array<[number, number, string]> = [];
    const v2 = await evaluateModel(ws, 'species@v2', {
      suitePath: gate,
      data: 'penguins',
      onProgress: (done, total, note) => progress.push([done, total, note]),
    });
    expect(progress.map(([d, t]) => `${d}/${t}`)).toEqual(['0/5', '1/5', '2/5', '3/5', '4/5', '5/5']);
    expect(progress[0]![2]).toBe('predicting 300 rows');
    expect(progress[3]![2]).toMatch(/^non_regression\(macro_f1/);
    expect(v2.metrics).toMatchObject({ multiclass_accuracy: 1, macro_f1: 1 });
    expect(v2.checks.map((c) => [c.kind, c.passed])).toEqual([
      ['metric', true],
      ['metric', true],
      ['non_regression', true],
      ['latency', true],
    ]);
    expect(v2.passed).toBe(true);
  });

  it('refuses score metrics and slices in a multiclass suite (an ONNX model needs no command predictor)', () => {
    expect(() =>
      parseEvalSuite(
        'suite: s\ntask: multiclass\ndata: {label: y, features: [a]}\nchecks:\n  - metric: {name: roc_auc, min: 0.5}\n  - slice: {by: [a], metric: macro_f1}\n',
        's.yaml',
      ),
    ).toThrow(/s\.yaml:5: roc_auc needs scores[\s\S]*s\.yaml:6: slice checks are not available/);
  });
});
