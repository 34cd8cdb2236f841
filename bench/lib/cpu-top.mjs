// The functions with the most self time in a V8 .cpuprofile (bench/server-cpu.mjs with
// CAIRN_BENCH_CPU_PROF=file), as shares of the busy samples: idle, `(program)` and the
// profiler's own `dispatch` are left out, and so is `writev`, which V8's sampler charges with the
// time a process waits while a woken PostgreSQL backend runs (docs/BENCHMARKS.md).
//
//   node bench/lib/cpu-top.mjs file.cpuprofile [rows=20]
import { readFileSync } from 'node:fs';

const [file, rows = '20'] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const skip = new Set(['(idle)', '(program)', 'dispatch', 'writev']);
const self = new Map();
let busy = 0;
for (let i = 0; i < p.samples.length; i++) {
  const f = byId.get(p.samples[i]).callFrame;
  if (skip.has(f.functionName)) continue;
  const t = p.timeDeltas[i] ?? 0;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + t);
  busy += t;
}
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(rows)))
  console.log(`${((100 * t) / busy).toFixed(1).padStart(5)} %  ${k}`);
