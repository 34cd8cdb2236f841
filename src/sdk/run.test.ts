import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMetricLines, type MetricRecord } from '../compute/metrics/parse.js';
import { isCairnError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';
import { useTempDirs } from '../test-support/temp.js';
import {
  checkpointDir,
  inputEnvName,
  inputPath,
  latestCheckpoint,
  logMetric,
  logMetrics,
  logParam,
  logParams,
  outputDir,
  saveCheckpoint,
} from './run.js';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const VARS = ['CAIRN_METRICS_FILE', 'CAIRN_OUTPUT_DIR', 'CAIRN_CHECKPOINT_DIR', 'CAIRN_INPUT_TRAIN_V2_CSV'];

function records(file: string): MetricRecord[] {
  const r = parseMetricLines(readFileSync(file), '');
  expect(r.bad).toEqual([]);
  expect(r.carry).toBe('');
  return r.records;
}

function untimed(recs: MetricRecord[]): MetricRecord[] {
  return recs.map((r) => {
    if (r.kind !== 'metric') return r;
    expect(r.time).toMatch(TIME);
    return { ...r, time: 'T' };
  });
}

describe('src/sdk (in-process)', () => {
  const tmp = useTempDirs();
  const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
  afterEach(() => {
    for (const k of VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('writes lines that Cairn parses into exactly the records logged', () => {
    const file = join(tmp(), 'metrics.jsonl');
    process.env.CAIRN_METRICS_FILE = file;
    logParam('lr', 0.01);
    logParams({ layers: [64, 32], opt: { name: 'adam', betas: [0.9, 0.999] }, resume: null });
    logMetric('loss', 0.5);
    logMetric('loss', 0.25, 1);
    logMetrics({ acc: 0.75, f1: 0.5 }, 2);
    expect(untimed(records(file))).toEqual([
      { kind: 'param', name: 'lr', value: 0.01 },
      { kind: 'param', name: 'layers', value: [64, 32] },
      { kind: 'param', name: 'opt', value: { name: 'adam', betas: [0.9, 0.999] } },
      { kind: 'param', name: 'resume', value: null },
      { kind: 'metric', name: 'loss', value: 0.5, step: null, time: 'T' },
      { kind: 'metric', name: 'loss', value: 0.25, step: 1, time: 'T' },
      { kind: 'metric', name: 'acc', value: 0.75, step: 2, time: 'T' },
      { kind: 'metric', name: 'f1', value: 0.5, step: 2, time: 'T' },
    ]);
    // The file can change between calls (the env is read every time).
    const other = join(tmp(), 'other.jsonl');
    process.env.CAIRN_METRICS_FILE = other;
    logMetric('loss', 0.125, 3);
    expect(untimed(records(other))).toEqual([{ kind: 'metric', name: 'loss', value: 0.125, step: 3, time: 'T' }]);
    expect(records(file)).toHaveLength(8);
  });

  it('refuses bad values with INVALID_INPUT and writes nothing for an object with one bad entry', () => {
    const file = join(tmp(), 'metrics.jsonl');
    process.env.CAIRN_METRICS_FILE = file;
    const bad: Array<() => void> = [
      () => logMetric('loss', NaN),
      () => logMetric('loss', Infinity),
      () => logMetric('loss', '0.5' as unknown as number),
      () => logMetric('loss', 1, -1),
      () => logMetric('loss', 1, 1.5),
      () => logMetric('', 1),
      () => logMetric('x'.repeat(201), 1),
      () => logMetric('a\nb', 1),
      () => logMetric('a\ud800', 1),
      () => logParam('p', NaN),
      () => logParam('p', new Date()),
      () => logParam('p', undefined),
      () => logMetrics({ ok: 1, bad: NaN }),
      () => logParams({ ok: 1, '\u0000': 2 }),
    ];
    for (const f of bad) expect(f).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(existsSync(file)).toBe(false);
    logMetric('😀'.repeat(200), 1, Number.MAX_SAFE_INTEGER);
    expect(untimed(records(file))).toEqual([
      { kind: 'metric', name: '😀'.repeat(200), value: 1, step: Number.MAX_SAFE_INTEGER, time: 'T' },
    ]);
  });

  it('does nothing outside a run, and falls back to local folders', () => {
    delete process.env.CAIRN_METRICS_FILE;
    delete process.env.CAIRN_OUTPUT_DIR;
    delete process.env.CAIRN_CHECKPOINT_DIR;
    const dir = tmp();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      logParam('lr', 0.1);
      logMetric('loss', 0.5, 1);
      logMetrics({ acc: 1 });
      expect(() => logMetric('loss', NaN)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      expect(readdirSync(dir)).toEqual([]);
      expect(outputDir()).toBe(join(process.cwd(), 'outputs'));
      expect(checkpointDir()).toBe(join(process.cwd(), 'checkpoints'));
      expect(latestCheckpoint()).toBeNull();
      expect(readdirSync(dir).sort()).toEqual(['checkpoints', 'outputs']);
    } finally {
      process.chdir(cwd);
    }
  });

  it('finds inputs from the environment', () => {
    process.env.CAIRN_INPUT_TRAIN_V2_CSV = '/data/train.csv';
    expect(inputEnvName('train-v2.csv')).toBe('CAIRN_INPUT_TRAIN_V2_CSV');
    expect(inputEnvName('a b/ü😀')).toBe('CAIRN_INPUT_A_B___');
    expect(inputPath('train-v2.csv')).toBe('/data/train.csv');
    expect(inputPath('test', 'local/test.csv')).toBe('local/test.csv');
    let err: unknown;
    try {
      inputPath('test');
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'NOT_FOUND')).toBe(true);
    expect((err as { hint: string }).hint).toContain('CAIRN_INPUT_TRAIN_V2_CSV');
  });

  it('saves checkpoints atomically and finds the newest complete one', async () => {
    const ckpt = join(tmp(), 'ckpt');
    process.env.CAIRN_CHECKPOINT_DIR = ckpt;
    for (const step of [1, 10, 2]) {
      const path = await saveCheckpoint(step, async (d) => {
        expect(d).toMatch(new RegExp(`/\\.tmp-step-${step}-`));
        writeFileSync(join(d, 'model.bin'), `weights ${step}`);
      });
      expect(path).toBe(join(ckpt, `step-${step}`));
    }
    mkdirSync(join(ckpt, 'step-99')); // no COMPLETE: unfinished
    await expect(
      saveCheckpoint(50, (d) => {
        writeFileSync(join(d, 'model.bin'), 'half');
        throw new Error('killed mid-save');
      }),
    ).rejects.toThrow('killed mid-save');
    expect(latestCheckpoint()).toBe(join(ckpt, 'step-10'));
    await saveCheckpoint(10, (d) => writeFileSync(join(d, 'model.bin'), 'again'));
    expect(readFileSync(join(latestCheckpoint()!, 'model.bin'), 'utf8')).toBe('again');
    expect(readdirSync(ckpt).sort()).toEqual(['step-1', 'step-10', 'step-2', 'step-99']);
    expect(JSON.parse(readFileSync(join(ckpt, 'step-10', 'COMPLETE'), 'utf8'))).toMatchObject({ step: 10 });
    await expect(saveCheckpoint(-1, () => {})).rejects.toSatisfy((e) => isCairnError(e, 'INVALID_INPUT'));
  });
});

describe('src/sdk in a job process', () => {
  const tmp = useTempDirs();
  let bundleDir: string;
  let bundle: string;

  // The logging module bundled from source (not index.ts, which also pulls in DuckDB), so the
  // test needs no build and never sees a stale dist/.
  beforeAll(() => {
    bundleDir = mkdtempSync(join(tmpdir(), 'cairn-sdk-'));
    bundle = join(bundleDir, 'sdk.mjs');
    buildSync({
      entryPoints: [join(packageRoot(), 'src', 'sdk', 'run.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      logLevel: 'error',
    });
  });
  afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

  const job = (dir: string, body: string) => {
    const script = join(dir, 'job.mjs');
    writeFileSync(script, `import * as cairn from ${JSON.stringify(bundle)};\n${body}`);
    return script;
  };

  it('never interleaves lines from concurrent processes', () => {
    const dir = tmp();
    const file = join(dir, 'metrics.jsonl');
    const script = job(
      dir,
      `const w = Number(process.argv[2]);\nfor (let i = 0; i < 500; i++) cairn.logMetric('worker-' + w + '/' + 'x'.repeat(i % 150), i, i);\n`,
    );
    const kids = [0, 1, 2, 3].map((w) =>
      spawn(process.execPath, [script, String(w)], {
        env: { ...process.env, CAIRN_METRICS_FILE: file },
        stdio: 'inherit',
      }),
    );
    return Promise.all(kids.map((k) => new Promise((resolve) => k.on('close', resolve)))).then((codes) => {
      expect(codes).toEqual([0, 0, 0, 0]);
      const recs = records(file);
      expect(recs).toHaveLength(2000);
      for (let w = 0; w < 4; w++) {
        expect(recs.filter((x) => x.name.startsWith(`worker-${w}/`)).map((x) => (x as { step: number }).step)).toEqual(
          Array.from({ length: 500 }, (_, i) => i),
        );
      }
    });
  });

  it('runs the onPreempt callbacks on SIGTERM, then exits with 143', async () => {
    const dir = tmp();
    const ckpt = join(dir, 'ckpt');
    const file = join(dir, 'metrics.jsonl');
    const script = job(
      dir,
      `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
let step = 7;
cairn.onPreempt(async () => {
  await cairn.saveCheckpoint(step, (d) => writeFileSync(join(d, 'state'), String(step)));
  cairn.logParam('preempted_at', step);
});
cairn.onPreempt(() => { process.stdout.write('second callback\\n'); }, { exit: false });
for (let s = 1; s <= step; s++) cairn.logMetric('loss', 1 / s, s);
process.stdout.write('ready\\n');
setInterval(() => cairn.logMetric('spin', 0, 0), 1);
`,
    );
    const child = spawn(process.execPath, [script], {
      cwd: dir,
      env: { ...process.env, CAIRN_METRICS_FILE: file, CAIRN_CHECKPOINT_DIR: ckpt },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) resolve();
      });
      void exited.then((code) => reject(new Error(`node exited with ${code} before it was ready: ${err}`)));
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(err).toBe('');
    expect(out).toBe('ready\nsecond callback\n');
    expect(readFileSync(join(ckpt, 'step-7', 'state'), 'utf8')).toBe('7');
    const recs = records(file);
    expect(recs.slice(0, 7).map((x) => x.name)).toEqual(Array(7).fill('loss'));
    expect(recs.some((x) => x.kind === 'param' && x.name === 'preempted_at' && x.value === 7)).toBe(true);
  });

  it('keeps running after SIGTERM when every callback passed exit: false', () => {
    const dir = tmp();
    const script = job(
      dir,
      `let stop = false;\ncairn.onPreempt(() => { stop = true; }, { exit: false });\nprocess.kill(process.pid, 'SIGTERM');\nconst t = setInterval(() => { if (stop) { clearInterval(t); process.stdout.write('stopped cleanly\\n'); } }, 5);\n`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('stopped cleanly\n');
    expect(r.status).toBe(0);
  });
});
