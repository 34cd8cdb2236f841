// One run of the `server` suite's reads from the checkout named (bench/server-ab.mjs): its own
// process, so two checkouts' modules never share one. Prints one JSON line.
//
//   node bench/lib/server-ab-child.mjs <checkout> <work dir>     (CAIRN_BENCH_SERVER_DB set)
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, work] = process.argv.slice(2);
const { suite } = await import(pathToFileURL(path.join(root, 'bench/suites/server.mjs')).href);
const out = await suite.run({ repoRoot: root, work, scale: 1, repeat: 1, warmup: 0, log: () => {} });
const r = out.results.reads;
console.log(
  JSON.stringify({
    rps: r.rps,
    p50: r.p50,
    p99: r.p99,
    errors: r.errors,
    serverCpuMs: r.cpuMsPerRequest,
    clientCpuMs: r.clientCpuMsPerRequest,
    backendCpuMs: r.pg?.backendCpuMsPerRequest,
    statements: r.pg?.statementsPerRequest,
  }),
);
