// Turns a flights split into model features and the label late = arrived after schedule
// (delay > 0 minutes). Writes features.csv to the run's output and logs the share of late
// flights, so a reader can see what always guessing the majority class would score.
//
//   distance_k          distance in 1,000 km
//   hour_sin, hour_cos  departure hour on a circle (23:00 is next to 00:00)
//   origin_recent       how late the same airport's flights that left 1 to 4 hours earlier ran:
//                       (late + 1) / (flights + 2) scaled to [-1, 1], 0 when none left. Flights
//                       still in the air in the last hour are left out, so the feature uses only
//                       what a dispatcher could know when the flight leaves.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const sdk = await import(process.env.CAIRN_SDK_JS);
const rows = await sdk.readTable(sdk.inputPath('flights'), {
  columns: ['date', 'distance', 'delay', 'origin'],
  limit: Number(process.env.ROWS ?? 200000),
});
const time = (r) => new Date(r.date).getTime();
rows.sort((a, b) => time(a) - time(b));

const HOUR = 3600_000;
const recent = new Map(); // origin -> [departure ms, late 0|1][] of the last 4 hours, oldest first
const out = join(sdk.outputDir(), 'features');
mkdirSync(out, { recursive: true });
const lines = ['distance_k,hour_sin,hour_cos,origin_recent,late'];
let lateCount = 0;
for (const r of rows) {
  const t = time(r);
  const d = new Date(t);
  const h = d.getUTCHours() + d.getUTCMinutes() / 60;
  const q = recent.get(r.origin) ?? [];
  recent.set(r.origin, q);
  while (q.length && q[0][0] < t - 4 * HOUR) q.shift();
  let n = 0;
  let late = 0;
  for (const [tq, l] of q) {
    if (tq > t - HOUR) break;
    n++;
    late += l;
  }
  const y = Number(r.delay) > 0 ? 1 : 0;
  lateCount += y;
  q.push([t, y]);
  lines.push(
    [
      (Number(r.distance) / 1000).toFixed(4),
      Math.sin((2 * Math.PI * h) / 24).toFixed(5),
      Math.cos((2 * Math.PI * h) / 24).toFixed(5),
      (2 * ((late + 1) / (n + 2)) - 1).toFixed(4),
      y,
    ].join(','),
  );
}
writeFileSync(join(out, 'features.csv'), `${lines.join('\n')}\n`);
sdk.logParams({ rows: rows.length, late_share: Number((lateCount / rows.length).toFixed(6)) });
console.log(`${rows.length} rows featurized, ${((100 * lateCount) / rows.length).toFixed(1)}% late`);
