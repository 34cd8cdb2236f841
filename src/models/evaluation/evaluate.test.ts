import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, reopen } from '../../test-support/workspace.js';
import { approve, promote, setPolicy } from '../aliases.js';
import { linearOnnx } from '../../sdk/onnx-linear.js';
import { registerModel } from '../registry.js';
import { compareModels } from './compare.js';
import { evaluateModel } from './evaluate.js';
import { parseEvalSuite } from './suite.js';

/** 2,000 rows: label = 1 when 2·f1 − f2 + noise > 0; `group` alternates a/b. */
function dataset(): string {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const lines = ['f1,f2,group,label'];
  for (let i = 0; i < 2000; i++) {
    const f1 = rnd();
    const f2 = rnd();
    lines.push(`${f1.toFixed(4)},${f2.toFixed(4)},${i % 2 ? 'a' : 'b'},${2 * f1 - f2 + rnd() * 0.3 > 0 ? 1 : 0}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('model evaluate (ONNX Runtime)', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const setup = async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    mkdirSync(join(root, 'test'));
    writeFileSync(join(root, 'test', 'test.csv'), dataset());
    await addVersion(ws, { source: join(root, 'test'), name: 'eval' });
    const model = (name: string, w: number[], b: number, inputs = ['f1', 'f2']) => {
      const d = join(root, name);
      mkdirSync(d);
      writeFileSync(join(d, 'model.onnx'), linearOnnx({ weights: w, bias: b, output: 'probability' }));
      writeFileSync(
        join(root, `${name}.sig.json`),
        JSON.stringify({
          inputs: inputs.map((n) => ({ name: n, type: 'float32' })),
          outputs: [{ name: 'probability', type: 'float32' }],
        }),
      );
      return { path: d, signature: join(root, `${name}.sig.json`) };
    };
    const suite = (checks: string) => {
      const p = join(root, 'suite.yaml');
      writeFileSync(p, `suite: acceptance\ndata:\n  label: label\n  features: [f1, f2]\nchecks:\n${checks}`);
      return p;
    };
    return { root, ws, model, suite };
  };

  it('a good candidate passes every kind of check; the verdict and its evidence are stored', async () => {
    const { ws, model, suite } = await setup();
    await registerModel(ws, { name: 'clf', ...model('good', [4, -2], 0) });
    const s = suite(
      [
        '  - metric: {name: accuracy, min: 0.9}',
        '  - metric: {name: roc_auc, min: 0.95}',
        '  - slice: {by: [group], metric: accuracy, min: 0.85, slices: [a, b]}',
        '  - fairness: {by: group, measure: demographic_parity, max: 0.1}',
        '  - latency: {p95_ms: 500}',
        '  - size: {max: 1MB}',
        '  - smoke: {cases: [{features: [0, 0], expect: 0.5, tolerance: 0.001}]}',
        '',
      ].join('\n'),
    );
    const r = await evaluateModel(ws, 'clf@v1', { suitePath: s, data: 'eval' });
    expect(r.checks.filter((c) => !c.passed)).toEqual([]);
    expect(r.passed).toBe(true);
    expect(r.rows).toBe(2000);
    expect(r.metrics.accuracy).toBeGreaterThan(0.9);
    const stored = await ws.meta.db.selectFrom('model_evaluations').select(['suite', 'passed', 'report']).execute();
    expect(stored.map((e) => [e.suite, e.passed])).toEqual([['acceptance', 1]]);
    expect(JSON.parse(stored[0]!.report).checks).toHaveLength(7);
  });

  it('the regression gate blocks a worse candidate against production; a missing slice and a schema break fail; promotion then follows the verdicts', async () => {
    const { root, ws, model, suite } = await setup();
    await registerModel(ws, { name: 'clf', ...model('good', [4, -2], 0) });
    await registerModel(ws, { name: 'clf', ...model('worse', [1, 0.5], 0.3, ['f1']) });
    await promote(ws, 'clf@v1', 'production', 'set');
    const s = suite(
      [
        '  - non_regression: {metric: accuracy, against: production, margin: 0.01, resamples: 300}',
        '  - slice: {by: [group], metric: accuracy, slices: [a, c]}',
        '  - schema: {against: production}',
        '',
      ].join('\n'),
    );
    const bad = await evaluateModel(ws, 'clf@v2', { suitePath: s, data: 'eval' });
    expect(bad.passed).toBe(false);
    expect(bad.checks.map((c) => [c.kind, c.passed])).toEqual([
      ['non_regression', false],
      ['slice', false],
      ['schema', false],
    ]);
    expect(bad.checks[2]!.message).toBe('the candidate lacks input(s) f2 that clf@v1 takes');
    expect(bad.checks[1]!.message).toMatch(/c/);
    const good = await evaluateModel(ws, 'clf@v1', {
      suitePath: suite('  - non_regression: {metric: accuracy, against: production, margin: 0, resamples: 300}\n'),
      data: 'eval',
    });
    expect(good.passed).toBe(true);
    await setPolicy(ws, 'clf', 'production', { suites: ['acceptance'], approvals: 1, separateApprover: true });
    const bob = await reopen(root, 'bob@example.com');
    open.push(bob);
    await approve(bob, 'clf@v2', 'production');
    await expect(promote(ws, 'clf@v2', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: { unmet: ['suite acceptance failed on v2 (its latest evaluation)'] },
    });
    const cmp = await compareModels(ws, ['clf@v1', 'clf@v2'], {
      suite: parseEvalSuite('suite: c\ndata: {label: label, features: [f1, f2]}\n', 'c.yaml'),
      data: 'eval',
      metrics: ['accuracy'],
    });
    expect(cmp.models).toEqual(['clf@v1', 'clf@v2']);
    expect(cmp.rows[0]!.deltas[1]!.value).toBeLessThan(0);
  });

  it('a misspelled metric is a clear error naming it and the closest one', () => {
    expect(() =>
      parseEvalSuite(
        'suite: s\ndata: {label: y, features: [a]}\nchecks:\n  - metric: {name: acuracy, min: 0.9}\n',
        's.yaml',
      ),
    ).toThrow(/s\.yaml:4: unknown metric "acuracy"; did you mean "accuracy"\?/);
  });
});
