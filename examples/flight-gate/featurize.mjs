// Turns a flights split into model features: distance (1000 km), hour of day on a circle,
// and the label late = delay > 15 minutes. Writes features.csv to the run's output.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sdk = await import(process.env.CAIRN_SDK_JS);
const rows = await sdk.readTable(sdk.inputPath('flights'), {
  columns: ['date', 'distance', 'delay'],
  limit: Number(process.env.ROWS ?? 200000),
});
const out = join(sdk.outputDir(), 'features');
mkdirSync(out, { recursive: true });
const lines = ['distance_k,hour_sin,hour_cos,late'];
for (const r of rows) {
  const d = new Date(r.date);
  const h = d.getUTCHours() + d.getUTCMinutes() / 60;
  lines.push(
    `${(Number(r.distance) / 1000).toFixed(4)},${Math.sin((2 * Math.PI * h) / 24).toFixed(5)},${Math.cos((2 * Math.PI * h) / 24).toFixed(5)},${Number(r.delay) > 15 ? 1 : 0}`,
  );
}
writeFileSync(join(out, 'features.csv'), `${lines.join('\n')}\n`);
sdk.logParams({ rows: rows.length });
console.log(`${rows.length} rows featurized`);
