// Logistic regression (is the flight more than 15 minutes late?) with gradient descent on the
// featurized split; exported to ONNX through the SDK, so Cairn evaluates it with ONNX Runtime.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sdk = await import(process.env.CAIRN_SDK_JS);
const epochs = Number(process.argv[process.argv.indexOf('--epochs') + 1]);
const lr = Number(process.argv[process.argv.indexOf('--lr') + 1]);
// --hour false: a weaker model that ignores the time of day (its weights stay 0)
const hour = process.argv[process.argv.indexOf('--hour') + 1] !== 'false';
const rows = await sdk.readTable(sdk.inputPath('train'));
const F = ['distance_k', 'hour_sin', 'hour_cos'];
const x = rows.map((r) => F.map((f) => Number(r[f])));
const y = rows.map((r) => Number(r.late));
const w = [0, 0, 0];
let b = 0;
for (let e = 0; e < epochs; e++) {
  const g = [0, 0, 0];
  let gb = 0;
  let loss = 0;
  for (let i = 0; i < x.length; i++) {
    const z = b + w[0] * x[i][0] + w[1] * x[i][1] + w[2] * x[i][2];
    const p = 1 / (1 + Math.exp(-z));
    const d = p - y[i];
    for (let j = 0; j < 3; j++) g[j] += d * x[i][j];
    gb += d;
    loss -= y[i] * Math.log(p + 1e-12) + (1 - y[i]) * Math.log(1 - p + 1e-12);
  }
  for (let j = 0; j < 3; j++) if (hour || j === 0) w[j] -= (lr * g[j]) / x.length;
  b -= (lr * gb) / x.length;
  sdk.logMetric('train_loss', loss / x.length, e);
}
const out = join(sdk.outputDir(), 'model');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'model.onnx'), sdk.linearOnnx({ weights: w, bias: b, output: 'probability' }));
writeFileSync(
  join(out, 'signature.json'),
  JSON.stringify({
    inputs: F.map((name) => ({ name, type: 'float32' })),
    outputs: [{ name: 'probability', type: 'float32' }],
  }),
);
console.log(`w=${w.map((v) => v.toFixed(4))} b=${b.toFixed(4)}`);
