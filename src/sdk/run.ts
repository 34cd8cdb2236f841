/**
 * Helpers for Node jobs that Cairn runs (the same API as sdk/python/cairn_helper/; protocol
 * in docs/COMPUTE.md, "Logging params and metrics"):
 *
 *   import { logParams, logMetric, saveCheckpoint, latestCheckpoint, onPreempt } from 'cairn/sdk';
 *   logParams({ lr: 0.01, epochs: 10 });
 *   for (let step = 0; step < 1000; step++) logMetric('loss', train(step), step);
 *   await saveCheckpoint(1000, (dir) => writeFileSync(join(dir, 'model.bin'), weights));
 *
 * Outside a Cairn run (no CAIRN_METRICS_FILE) logging does nothing, so the same code runs
 * standalone. Values are checked either way, so a bad value fails the same in both places.
 * The environment is read on every call, never cached at import.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { canonicalJson } from '../core/canonical-json.js';
import {
  COMPLETE_FILE,
  inputEnvName,
  INPUT_ENV_PREFIX,
  isValidStep,
  nameProblem,
  RUN_ENV,
  STEP_PROBLEM,
  VALUE_PROBLEM,
} from '../core/run-contract.js';

export { COMPLETE_FILE, inputEnvName };

let metricsFd: { path: string; fd: number } | null = null;

function checkName(name: string): void {
  const bad = nameProblem(name);
  if (bad) throw new CairnError('INVALID_INPUT', `${bad}: ${JSON.stringify(String(name)).slice(0, 80)}`);
}

function checkValue(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new CairnError('INVALID_INPUT', `metric ${JSON.stringify(name)}: ${VALUE_PROBLEM}, not ${String(value)}`);
  }
}

function checkStep(step: number | null | undefined): void {
  if (!isValidStep(step)) throw new CairnError('INVALID_INPUT', `${STEP_PROBLEM}, not ${String(step)}`);
}

/**
 * Appends whole lines with one write(): O_APPEND puts each write at the current end, so lines
 * from several processes or threads never interleave.
 */
function append(lines: string[]): void {
  const path = process.env[RUN_ENV.metricsFile];
  if (!path || lines.length === 0) return;
  if (metricsFd?.path !== path) {
    if (metricsFd) closeSync(metricsFd.fd);
    metricsFd = { path, fd: openSync(path, 'a') };
  }
  const buf = Buffer.from(lines.join(''), 'utf8');
  let off = 0;
  // A regular file takes the whole buffer unless the disk is full; the loop covers the rest.
  while (off < buf.length) off += writeSync(metricsFd.fd, buf, off, buf.length - off);
}

function paramLine(name: string, value: unknown): string {
  checkName(name);
  let json: string;
  try {
    json = canonicalJson(value);
  } catch (err) {
    throw new CairnError('INVALID_INPUT', `param ${JSON.stringify(name)}: ${(err as Error).message}`, { cause: err });
  }
  return `{"kind":"param","name":${JSON.stringify(name)},"value":${json}}\n`;
}

function metricLine(name: string, value: number, step: number | null | undefined, time: string): string {
  checkName(name);
  checkValue(name, value);
  checkStep(step);
  return `${JSON.stringify({ kind: 'metric', name, value, step: step ?? null, time })}\n`;
}

/** Records a parameter (any JSON value; the last value logged for a name wins). */
export function logParam(name: string, value: unknown): void {
  append([paramLine(name, value)]);
}

/** Several params, all checked before any is written. */
export function logParams(params: Record<string, unknown>): void {
  append(Object.entries(params).map(([k, v]) => paramLine(k, v)));
}

/** Records one point of a metric; `step` is an integer ≥ 0 or omitted. */
export function logMetric(name: string, value: number, step?: number | null): void {
  append([metricLine(name, value, step, new Date().toISOString())]);
}

/** Several metrics at the same step and time, all checked before any is written. */
export function logMetrics(values: Record<string, number>, step?: number | null): void {
  const time = new Date().toISOString();
  append(Object.entries(values).map(([k, v]) => metricLine(k, v, step, time)));
}

function dirFromEnv(variable: string, fallback: string): string {
  const dir = process.env[variable] || resolve(fallback);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Where the run's outputs go ($CAIRN_OUTPUT_DIR; ./outputs outside a run). Created if missing. */
export function outputDir(): string {
  return dirFromEnv(RUN_ENV.outputDir, 'outputs');
}

/** Where checkpoints go ($CAIRN_CHECKPOINT_DIR; ./checkpoints outside a run). Created if missing. */
export function checkpointDir(): string {
  return dirFromEnv(RUN_ENV.checkpointDir, 'checkpoints');
}

/** The absolute path of a declared input; `fallback` (e.g. a local copy) when not in a run. */
export function inputPath(name: string, fallback?: string): string {
  const p = process.env[inputEnvName(name)];
  if (p) return p;
  if (fallback !== undefined) return fallback;
  const have = Object.keys(process.env)
    .filter((k) => k.startsWith(INPUT_ENV_PREFIX))
    .sort();
  throw new CairnError('NOT_FOUND', `no input ${JSON.stringify(name)} (${inputEnvName(name)} is not set)`, {
    data: { name, available: have },
    hint: have.length
      ? `this run has ${have.join(', ')}`
      : 'declare it in the run spec, or pass a fallback path for running outside Cairn',
  });
}

const STEP_DIR = /^step-(\d+)$/;

/**
 * The newest complete checkpoint folder (one holding COMPLETE), or null. Newest = highest n of
 * step-<n>; folders named otherwise rank below those, by COMPLETE's modification time. Step
 * numbers, not times, decide first: a requeued job may land on a node with another clock.
 */
export function latestCheckpoint(): string | null {
  const root = process.env[RUN_ENV.checkpointDir] || resolve('checkpoints');
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return null;
  }
  let best: { key: [number, number, string]; path: string } | null = null;
  for (const name of names) {
    if (name.startsWith('.')) continue; // temporary folders of saves in progress
    const path = join(root, name);
    let mtime: number;
    try {
      mtime = statSync(join(path, COMPLETE_FILE)).mtimeMs;
    } catch {
      continue;
    }
    const m = STEP_DIR.exec(name);
    const key: [number, number, string] = [m ? Number(m[1]) : -1, mtime, name];
    if (!best || compareKeys(key, best.key) > 0) best = { key, path };
  }
  return best?.path ?? null;
}

function compareKeys(a: [number, number, string], b: [number, number, string]): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

function fsyncTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else if (e.isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
}

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Saves checkpoint `step`: `write` fills a temporary folder, which gets COMPLETE and is then
 * renamed to <checkpointDir>/step-<step>, so a job killed mid-save never leaves a folder that
 * latestCheckpoint() would pick. An existing step-<step> is replaced. Returns the final path.
 */
export async function saveCheckpoint(step: number, write: (dir: string) => void | Promise<void>): Promise<string> {
  if (!Number.isSafeInteger(step) || step < 0)
    throw new CairnError('INVALID_INPUT', `checkpoint step must be an integer ≥ 0, not ${String(step)}`);
  const root = checkpointDir();
  const final = join(root, `step-${step}`);
  const tmp = join(root, `.tmp-step-${step}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    await write(tmp);
    fsyncTree(tmp);
    const fd = openSync(join(tmp, COMPLETE_FILE), 'w');
    try {
      writeSync(fd, `${JSON.stringify({ step, time: new Date().toISOString() })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    fsyncPath(tmp);
    if (existsSync(final)) {
      // rename() cannot replace a non-empty folder: move the old one aside first.
      const old = join(root, `.old-step-${step}-${process.pid}-${randomBytes(4).toString('hex')}`);
      renameSync(final, old);
      renameSync(tmp, final);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, final);
    }
    fsyncPath(root);
    return final;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

const preemptCallbacks: Array<{ fn: () => void | Promise<void>; exit: boolean }> = [];
let preempting = false;

async function onSigterm(): Promise<void> {
  if (preempting) return; // a second SIGTERM while the callbacks run changes nothing
  preempting = true;
  let exit = false;
  let failed = false;
  for (const cb of preemptCallbacks) {
    exit ||= cb.exit;
    try {
      await cb.fn();
    } catch (err) {
      failed = true;
      process.stderr.write(`cairn: preemption callback failed: ${(err as Error)?.stack ?? String(err)}\n`);
    }
  }
  // 128 + SIGTERM, as if the signal had killed us: the run did not finish.
  if (exit || failed) process.exit(143);
}

/**
 * Runs `callback` when the job gets SIGTERM (cancel, time limit, preemption): the grace period
 * before SIGKILL is the time to save a checkpoint. Afterwards the process exits with 143,
 * unless every registered callback passed { exit: false } (then the job decides, e.g. by
 * stopping its loop at the next step). Callbacks run once, in registration order.
 */
export function onPreempt(callback: () => void | Promise<void>, opts: { exit?: boolean } = {}): void {
  if (preemptCallbacks.length === 0) process.on('SIGTERM', () => void onSigterm());
  preemptCallbacks.push({ fn: callback, exit: opts.exit ?? true });
}
