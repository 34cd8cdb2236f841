import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './cli.js';

/**
 * The workspace `cairn demo --keep` leaves, built once per test run and shared by the test files
 * that only need one (the web UI's browser tests, the compliance tests): each gets its own copy of
 * the demo's folder, so what one changes the other never sees. The demo takes minutes; running it
 * once instead of once per file keeps the suite inside its time budget. The first worker to ask
 * runs it (an exclusive lock folder); the others wait for its result.
 */
export function sharedDemo(env: NodeJS.ProcessEnv = {}): { base: string; project: string; summary: unknown } {
  const kept = process.env.CAIRN_TEST_DEMO;
  const root = kept ?? shared(env);
  const mine = join(tmpdir(), `cairn-demo-copy-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  cpSync(root, mine, { recursive: true, verbatimSymlinks: true });
  const summaryFile = join(mine, 'demo.json');
  const summary = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, 'utf8')) as unknown) : null;
  return { base: mine, project: join(mine, 'project'), summary };
}

/**
 * The shared demo itself, not a copy (look, never change: every other file copies it), with
 * what `cairn demo` printed on stdout. Null for a kept folder (CAIRN_TEST_DEMO) that has no
 * story beside it.
 */
export function sharedDemoRun(): { base: string; project: string; stdout: string } | null {
  const kept = process.env.CAIRN_TEST_DEMO;
  const base = kept ?? shared({});
  const story = join(base, '..', 'story.txt');
  if (!existsSync(story)) return null;
  return { base, project: join(base, 'project'), stdout: readFileSync(story, 'utf8') };
}

function shared(env: NodeJS.ProcessEnv): string {
  // One per test run (the vitest process that started the workers) and per build of the CLI.
  const bundle = statSync(join(import.meta.dirname, '..', '..', 'dist', 'bundle', 'main.js')).mtimeMs;
  const dir = join(tmpdir(), `cairn-shared-demo-${process.ppid}-${Math.round(bundle)}`);
  const done = join(dir, 'done.json');
  try {
    mkdirSync(`${dir}.lock`);
  } catch {
    return waitFor(done, dir);
  }
  // Without --json, so the story it prints is kept (story.txt) for src/cli/demo.test.ts, which
  // checks it instead of running a demo of its own; --dir keeps demo.json all the same.
  const r = cli(['demo', '--keep', '--dir', join(dir, 'demo')], {
    cwd: tmpdir(),
    env: { CAIRN_ACTOR: 'demo@cairn.example', ...env },
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'story.txt'), r.stdout);
  writeFileSync(done, JSON.stringify({ code: r.code, stderr: r.stderr.slice(-3000) }));
  if (r.code !== 0) throw new Error(`cairn demo failed:\n${r.stderr.slice(-3000)}`);
  return join(dir, 'demo');
}

function waitFor(done: string, dir: string): string {
  const deadline = Date.now() + 40 * 60_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(done)) {
    if (Date.now() > deadline) throw new Error(`the shared demo in ${dir} did not finish in 40 minutes`);
    Atomics.wait(nap, 0, 0, 1000);
  }
  const r = JSON.parse(readFileSync(done, 'utf8')) as { code: number; stderr: string };
  if (r.code !== 0) throw new Error(`cairn demo (run by another test file) failed:\n${r.stderr}`);
  return join(dir, 'demo');
}
