// Linear regression of flight delay (minutes) on distance, hour of day (as a circle) and
// weekday, trained with mini-batch SGD; logs RMSE and MAE per epoch through Cairn's SDK,
// checkpoints each epoch and resumes from the latest one, writes the model to the output dir.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Sdk {
  logParams(p: Record<string, unknown>): void;
  logMetrics(m: Record<string, number>, step?: number): void;
  inputPath(name: string): string;
  outputDir(): string;
  latestCheckpoint(): string | null;
  saveCheckpoint(step: number, write: (dir: string) => void): Promise<string>;
  readTable(dir: string, opts?: { columns?: string[]; limit?: number }): Promise<Array<Record<string, unknown>>>;
}

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};

function features(r: Record<string, unknown>): number[] {
  const d = new Date(r.date as string | Date);
  const hour = d.getUTCHours() + d.getUTCMinutes() / 60;
  const dow = d.getUTCDay();
  const x = [1, Number(r.distance) / 1000, Math.sin((2 * Math.PI * hour) / 24), Math.cos((2 * Math.PI * hour) / 24)];
  for (let k = 0; k < 7; k++) x.push(dow === k ? 1 : 0);
  return x;
}

function evaluate(w: number[], xs: number[][], ys: number[]): { rmse: number; mae: number } {
  let se = 0;
  let ae = 0;
  for (let i = 0; i < xs.length; i++) {
    const e = xs[i]!.reduce((s, v, j) => s + v * w[j]!, 0) - ys[i]!;
    se += e * e;
    ae += Math.abs(e);
  }
  return { rmse: Math.sqrt(se / xs.length), mae: ae / xs.length };
}

async function main(): Promise<void> {
  const sdk = (await import(process.env.CAIRN_SDK_JS!)) as Sdk;
  const epochs = arg('epochs', 8);
  const lr = arg('lr', 0.05);
  const rows = arg('rows', 400000);
  const cols = ['date', 'distance', 'delay'];
  const train = await sdk.readTable(sdk.inputPath('train'), { columns: cols, limit: rows });
  const test = await sdk.readTable(sdk.inputPath('test'), { columns: cols, limit: Math.ceil(rows / 4) });
  const xs = train.map(features);
  const ys = train.map((r) => Number(r.delay));
  const xt = test.map(features);
  const yt = test.map((r) => Number(r.delay));
  sdk.logParams({
    model: 'linear-regression',
    features: xs[0]!.length,
    train_rows: xs.length,
    test_rows: xt.length,
    lr,
    epochs,
  });

  let w = new Array<number>(xs[0]!.length).fill(0);
  let start = 0;
  const latest = sdk.latestCheckpoint();
  if (latest) {
    const state = JSON.parse(readFileSync(join(latest, 'state.json'), 'utf8')) as { w: number[]; epoch: number };
    w = state.w;
    start = state.epoch + 1;
    console.log(`resuming from ${latest} at epoch ${start}`);
  }
  const batch = 256;
  for (let epoch = start; epoch < epochs; epoch++) {
    for (let b = 0; b < xs.length; b += batch) {
      const g = new Array<number>(w.length).fill(0);
      const end = Math.min(xs.length, b + batch);
      for (let i = b; i < end; i++) {
        const e = xs[i]!.reduce((s, v, j) => s + v * w[j]!, 0) - ys[i]!;
        for (let j = 0; j < w.length; j++) g[j]! += e * xs[i]![j]!;
      }
      for (let j = 0; j < w.length; j++) w[j]! -= (lr * g[j]!) / (end - b) / 10;
    }
    const tr = evaluate(w, xs, ys);
    const te = evaluate(w, xt, yt);
    sdk.logMetrics({ train_rmse: tr.rmse, test_rmse: te.rmse, test_mae: te.mae }, epoch);
    await sdk.saveCheckpoint(epoch, (dir) => writeFileSync(join(dir, 'state.json'), JSON.stringify({ w, epoch })));
  }
  const final = evaluate(w, xt, yt);
  const out = join(sdk.outputDir(), 'model');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'weights.json'),
    JSON.stringify(
      {
        features: [
          'bias',
          'distance_km_per_1000',
          'hour_sin',
          'hour_cos',
          'sun',
          'mon',
          'tue',
          'wed',
          'thu',
          'fri',
          'sat',
        ],
        w,
      },
      null,
      2,
    ),
  );
  writeFileSync(join(out, 'metrics.json'), JSON.stringify(final, null, 2));
  console.log(`test RMSE ${final.rmse.toFixed(2)} min, MAE ${final.mae.toFixed(2)} min`);
}

await main();
