/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field in the tests */
// Fixtures of the evaluation tests on a team server: a test set, ONNX models, a gate suite.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linearOnnx } from '../../src/sdk/onnx-linear.js';
import { newLaptop, servicesAs, type Team } from './harness.js';

/** The server as `user` sees it through the CLI's client (no workspace of theirs involved). */
export function onServer(t: Team, user: string) {
  return servicesAs(t, user) as any;
}

/** 600 rows: label = 1 when 2·f1 − f2 > 0 (with a little noise); `group` alternates a/b. */
export function testSet(): string {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const lines = ['f1,f2,group,label'];
  for (let i = 0; i < 600; i++) {
    const f1 = rnd();
    const f2 = rnd();
    lines.push(`${f1.toFixed(4)},${f2.toFixed(4)},${i % 2 ? 'a' : 'b'},${2 * f1 - f2 + rnd() * 0.3 > 0 ? 1 : 0}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A laptop holding the test set `data` (`eval`) and an ONNX model folder per weight vector; `suite` writes gate.yaml. */
export async function laptopWithModels(t: Team, user: string, data = 'eval') {
  const laptop = await newLaptop(t, user);
  const dir = join(laptop.dir, 'test');
  mkdirSync(dir);
  writeFileSync(join(dir, 'test.csv'), testSet());
  await laptop.run((s) => s.datasets.add({ source: dir, name: data }));
  const model = (name: string, w: number[]) => {
    const d = mkdtempSync(join(tmpdir(), `cairn-evs-${name}-`));
    writeFileSync(join(d, 'model.onnx'), linearOnnx({ weights: w, bias: 0, output: 'probability' }));
    return d;
  };
  const suite = join(laptop.dir, 'gate.yaml');
  writeFileSync(
    suite,
    'suite: acceptance\ndata:\n  label: label\n  features: [f1, f2]\nchecks:\n  - metric: {name: accuracy, min: 0.9}\n',
  );
  return { ...laptop, model, suite };
}
