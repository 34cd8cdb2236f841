// Logistic regression (does the flight arrive late?) with gradient descent on the featurized
// split; exported to ONNX through the SDK, so Cairn evaluates it with ONNX Runtime.
//
// --features picks which inputs the model may use (a comma list of distance, hour, recent);
// the others keep weight 0, so every model has the same signature and the gate's schema check
// against production compares like with like.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sdk = await import(process.env.CAIRN_SDK_JS);
const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const epochs = Number(arg('epochs'));
const lr = Number(arg('lr'));
const GROUPS = { distance: [0], hour: [1, 2], recent: [3] };
const chosen = arg('features').split(',').filter(Boolean);
for (const g of chosen) {
  if (!GROUPS[g]) {
    console.error(`unknown feature group "${g}" (use ${Object.keys(GROUPS).join(', ')})`);
    process.exit(2);
  }
}
const use = [false, false, false, false];
for (const g of chosen) for (const j of GROUPS[g]) use[j] = true;

const F = ['distance_k', 'hour_sin', 'hour_cos', 'origin_recent'];
const rows = await sdk.readTable(sdk.inputPath('train'));
const x = rows.map((r) => F.map((f) => Number(r[f])));
const y = rows.map((r) => Number(r.late));
const w = [0, 0, 0, 0];
let b = 0;
for (let e = 0; e < epochs; e++) {
  const g = [0, 0, 0, 0];
  let gb = 0;
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < x.length; i++) {
    let z = b;
    for (let j = 0; j < 4; j++) z += w[j] * x[i][j];
    const p = 1 / (1 + Math.exp(-z));
    const d = p - y[i];
    for (let j = 0; j < 4; j++) g[j] += d * x[i][j];
    gb += d;
    loss -= y[i] * Math.log(p + 1e-12) + (1 - y[i]) * Math.log(1 - p + 1e-12);
    if ((p > 0.5 ? 1 : 0) === y[i]) correct++;
  }
  for (let j = 0; j < 4; j++) if (use[j]) w[j] -= (lr * g[j]) / x.length;
  b -= (lr * gb) / x.length;
  sdk.logMetrics({ train_loss: loss / x.length, train_accuracy: correct / x.length }, e);
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
console.log(`features=${chosen.join(',')} w=${w.map((v) => v.toFixed(4))} b=${b.toFixed(4)}`);
