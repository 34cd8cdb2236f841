#!/usr/bin/env node
// Raw throughput of Cairn's in-process PII scanner (src/dataprep/pii/scan.ts `scanBytes`, all
// four kinds) over the files a default `pii` file check scans: every file is read into memory
// first (untimed), then scanned one after another on this one thread, `--repeat` times.
//
// usage: node bench/dataprep/pii_scan.mjs <dir> [--repeat N]
// Prints one JSON line: { files, bytes, runs: [seconds...], seconds (median), mbPerS (1 MB = 10^6 B), counts }.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { corpusFiles } from './data.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.argv[2];
const ri = process.argv.indexOf('--repeat');
const repeat = ri > 0 ? Number(process.argv[ri + 1]) : 3;
const { scanBytes } = await import(pathToFileURL(path.join(REPO, 'dist/dataprep/pii/scan.js')).href);
const buffers = corpusFiles(dir).map((f) => readFileSync(f));
const bytes = buffers.reduce((n, b) => n + b.length, 0);
const runs = [];
let counts = null;
for (let r = 0; r < repeat + 1; r++) {
  const c = { email: 0, phone: 0, card: 0, iban: 0, filesWithPii: 0 };
  const t0 = process.hrtime.bigint();
  for (const b of buffers) {
    const s = scanBytes(b);
    c.email += s.counts.email;
    c.phone += s.counts.phone;
    c.card += s.counts.card;
    c.iban += s.counts.iban;
    if (s.counts.email + s.counts.phone + s.counts.card + s.counts.iban > 0) c.filesWithPii++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r > 0) runs.push(s); // the first run warms the JIT
  counts = c;
}
const sorted = [...runs].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
process.stdout.write(
  `${JSON.stringify({ files: buffers.length, bytes, runs, seconds: median, mbPerS: bytes / 1e6 / median, counts })}\n`,
);
