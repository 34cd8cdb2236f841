#!/usr/bin/env node
// Runs the checks `npm test` needs before the suite (typecheck, lint, build) side by side rather
// than one after another: each is one mostly single-threaded TypeScript program, so on a machine
// with two or more cores the three together take about as long as the slowest (CI: ~2 min less).
// Each check's output is held and printed whole when it ends, so logs do not interleave; the exit
// status is 1 if any check failed, naming which. The build is left out when dist/ is newer than
// everything it is built from (scripts/build-current.mjs): CI's `npm ci` has just built it; a
// developer who edited a source, UI or build file gets a build. CAIRN_FORCE_BUILD=1 always builds.
//
// With --with-suite (what `npm test` runs), the suite starts as soon as dist/ is built and runs
// beside the typecheck and lint: most test files wait on the processes they start, so the two
// checks (about 2.5 min of mostly one core each) fill idle cores instead of delaying the suite.
// The suite's output streams live; arguments after `--` go to vitest.
import { spawn } from 'node:child_process';
import { buildIsCurrent } from './build-current.mjs';

const withSuite = process.argv.includes('--with-suite');
const dashes = process.argv.indexOf('--');
const vitestArgs = dashes >= 0 ? process.argv.slice(dashes + 1) : [];
const skipBuild = process.env.CAIRN_FORCE_BUILD !== '1' && buildIsCurrent();
const build = ['build', 'npm', ['run', '--silent', 'build']];
const checks = [
  ['typecheck', 'npm', ['run', '--silent', 'typecheck']],
  ['lint', 'npm', ['run', '--silent', 'lint']],
];
if (skipBuild) process.stdout.write('== build: skipped, dist/ is newer than everything it is built from\n');

function run([name, cmd, args]) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => out.push(c));
    child.on('error', (err) => out.push(Buffer.from(`${err.message}\n`)));
    child.on('close', (code, signal) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const ok = code === 0;
      process.stdout.write(`== ${name}: ${ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`} in ${secs} s\n`);
      const text = Buffer.concat(out).toString('utf8').trim();
      if (text) process.stdout.write(`${text}\n`);
      resolve(ok ? null : name);
    });
  });
}

/** The suite, its output straight to this terminal; resolves to 'tests' when it failed. */
function suite() {
  return new Promise((resolve) => {
    const child = spawn('npx', ['vitest', 'run', ...vitestArgs], { stdio: 'inherit' });
    child.on('error', () => resolve('tests'));
    child.on('close', (code) => resolve(code === 0 ? null : 'tests'));
  });
}

let failed;
if (withSuite) {
  // The suite runs the CLI from dist/: it must be built before the first test starts.
  const built = skipBuild ? null : await run(build);
  failed = built ? [built] : (await Promise.all([...checks.map(run), suite()])).filter(Boolean);
} else {
  failed = (await Promise.all([...checks, ...(skipBuild ? [] : [build])].map(run))).filter(Boolean);
}
if (failed.length) {
  process.stderr.write(`checks failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
