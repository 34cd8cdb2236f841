import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMetricLines, type MetricRecord } from '../compute/metrics/parse.js';
import { packageRoot } from '../core/package-root.js';
import { useTempDirs } from '../test-support/temp.js';

// The helper ships to jobs that run the system's Python, so the tests use it too.
const PYTHON = '/usr/bin/python3';
const HELPER_DIR = join(packageRoot(), 'sdk', 'python');
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function python(script: string, opts: { cwd: string; env?: Record<string, string> }) {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PYTHONPATH: HELPER_DIR,
    PYTHONDONTWRITEBYTECODE: '1',
    ...opts.env,
  };
  return spawnSync(PYTHON, ['-c', script], { cwd: opts.cwd, env, encoding: 'utf8' });
}

function records(file: string): MetricRecord[] {
  const r = parseMetricLines(readFileSync(file), '');
  expect(r.bad).toEqual([]);
  expect(r.carry).toBe('');
  return r.records;
}

/** Times vary; check their form, then blank them for exact comparison. */
function untimed(recs: MetricRecord[]): MetricRecord[] {
  return recs.map((r) => {
    if (r.kind !== 'metric') return r;
    expect(r.time).toMatch(TIME);
    return { ...r, time: 'T' };
  });
}

describe.skipIf(!existsSync(PYTHON))('sdk/python/cairn_helper', () => {
  const tmp = useTempDirs();

  it('parses as Python 3.8', () => {
    const r = python(
      `import ast; ast.parse(open(${JSON.stringify(join(HELPER_DIR, 'cairn_helper', '__init__.py'))}).read(), feature_version=(3, 8))`,
      { cwd: tmp() },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('writes lines that Cairn parses into exactly the records logged', () => {
    const dir = tmp();
    const file = join(dir, 'metrics.jsonl');
    const r = python(
      `
import cairn_helper as c
c.log_param("lr", 0.01)
c.log_params({"layers": [64, 32], "opt": {"name": "adam", "betas": [0.9, 0.999]}, "resume": None, "név": "ü"})
c.log_metric("loss", 0.5)
c.log_metric("loss", 0.25, step=1)
c.log_metric("count", 3, step=0)
c.log_metrics({"acc": 0.75, "f1": 0.5}, step=2)
class Scalar:
    def __float__(self): return 1.5
c.log_metric("duck", Scalar(), step=3)
`,
      { cwd: dir, env: { CAIRN_METRICS_FILE: file } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
    const recs = records(file);
    expect(untimed(recs)).toEqual([
      { kind: 'param', name: 'lr', value: 0.01 },
      { kind: 'param', name: 'layers', value: [64, 32] },
      { kind: 'param', name: 'opt', value: { name: 'adam', betas: [0.9, 0.999] } },
      { kind: 'param', name: 'resume', value: null },
      { kind: 'param', name: 'név', value: 'ü' },
      { kind: 'metric', name: 'loss', value: 0.5, step: null, time: 'T' },
      { kind: 'metric', name: 'loss', value: 0.25, step: 1, time: 'T' },
      { kind: 'metric', name: 'count', value: 3, step: 0, time: 'T' },
      { kind: 'metric', name: 'acc', value: 0.75, step: 2, time: 'T' },
      { kind: 'metric', name: 'f1', value: 0.5, step: 2, time: 'T' },
      { kind: 'metric', name: 'duck', value: 1.5, step: 3, time: 'T' },
    ]);
    // log_metrics stamps its points with one time.
    const [acc, f1] = recs.filter((x) => x.name === 'acc' || x.name === 'f1') as Array<{ time: string }>;
    expect(acc!.time).toBe(f1!.time);
  });

  it('never interleaves lines from concurrent processes', () => {
    const dir = tmp();
    const file = join(dir, 'metrics.jsonl');
    const r = python(
      `
import os, cairn_helper as c
kids = []
for w in range(4):
    pid = os.fork()
    if pid == 0:
        for i in range(500):
            c.log_metric("worker-%d/%s" % (w, "x" * (i % 150)), float(i), step=i)
        os._exit(0)
    kids.append(pid)
for k in kids:
    _, status = os.waitpid(k, 0)
    assert status == 0
`,
      { cwd: dir, env: { CAIRN_METRICS_FILE: file } },
    );
    expect(r.stderr).toBe('');
    const recs = records(file);
    expect(recs).toHaveLength(2000);
    for (let w = 0; w < 4; w++) {
      const mine = recs.filter((x) => x.name.startsWith(`worker-${w}/`)) as Array<{ step: number; value: number }>;
      expect(mine.map((x) => x.step)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    }
  });

  it('refuses bad values with ValueError and writes nothing for a dict with one bad entry', () => {
    const dir = tmp();
    const file = join(dir, 'metrics.jsonl');
    const r = python(
      `
import cairn_helper as c
cases = [
    lambda: c.log_metric("loss", float("nan")),
    lambda: c.log_metric("loss", float("inf")),
    lambda: c.log_metric("loss", "0.5"),
    lambda: c.log_metric("loss", True),
    lambda: c.log_metric("loss", None),
    lambda: c.log_metric("loss", 10 ** 400),
    lambda: c.log_metric("loss", 1.0, step=-1),
    lambda: c.log_metric("loss", 1.0, step=1.5),
    lambda: c.log_metric("", 1.0),
    lambda: c.log_metric("x" * 201, 1.0),
    lambda: c.log_metric("a\\nb", 1.0),
    lambda: c.log_metric("a\\ud800", 1.0),
    lambda: c.log_metric(5, 1.0),
    lambda: c.log_param("p", float("nan")),
    lambda: c.log_param("p", "\\ud800"),
    lambda: c.log_metrics({"ok": 1.0, "bad": float("nan")}),
    lambda: c.log_params({"ok": 1, "\\x00": 2}),
]
for i, f in enumerate(cases):
    try:
        f()
        print(i, "accepted")
    except ValueError:
        print(i, "ValueError")
c.log_metric("x" * 200, 1.0, step=2 ** 53 - 1)
`,
      { cwd: dir, env: { CAIRN_METRICS_FILE: file } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(Array.from({ length: 17 }, (_, i) => `${i} ValueError`));
    expect(untimed(records(file))).toEqual([
      { kind: 'metric', name: 'x'.repeat(200), value: 1, step: 2 ** 53 - 1, time: 'T' },
    ]);
  });

  it('outside a run logs to a local file (like MLflow local mode), says where once, and falls back to local folders', () => {
    const dir = tmp();
    const r = python(
      `
import os, cairn_helper as c
c.log_param("lr", 0.1)
c.log_params({"a": 1})
c.log_metric("loss", 0.5, step=1)
c.log_metrics({"acc": 1.0})
assert c.output_dir() == os.path.abspath("outputs")
assert c.checkpoint_dir() == os.path.abspath("checkpoints")
assert c.latest_checkpoint() is None
assert c.input_path("train", default="data/train.csv") == "data/train.csv"
try:
    c.input_path("train")
    raise SystemExit("no KeyError")
except KeyError:
    pass
try:
    c.log_metric("loss", float("nan"))
    raise SystemExit("no ValueError")
except ValueError:
    pass
print(c.local_metrics_file())
`,
      { cwd: dir },
    );
    expect(r.status).toBe(0);
    const file = r.stdout.trim();
    expect(file).toMatch(/\/cairn-local\/\d{8}T\d{6}Z-\d+\/metrics\.jsonl$/);
    expect(r.stderr).toBe(`cairn_helper: not inside \`cairn run\`; logging to ${file}\n`);
    expect(readdirSync(dir).sort()).toEqual(['cairn-local', 'checkpoints', 'outputs']);
    expect(untimed(records(file))).toEqual([
      { kind: 'param', name: 'lr', value: 0.1 },
      { kind: 'param', name: 'a', value: 1 },
      { kind: 'metric', name: 'loss', value: 0.5, step: 1, time: 'T' },
      { kind: 'metric', name: 'acc', value: 1, step: null, time: 'T' },
    ]);
    // CAIRN_LOCAL_DIR moves it; the empty string turns it off (nothing written, nothing said).
    const off = python(`import cairn_helper as c\nc.log_metric("x", 1)\nprint(c.local_metrics_file())`, {
      cwd: tmp(),
      env: { CAIRN_LOCAL_DIR: '' },
    });
    expect([off.stdout, off.stderr]).toEqual(['None\n', '']);
  });

  it('read_table reads an input, a folder or a file: CSV, TSV, JSON Lines, JSON arrays (list of dicts without pandas)', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'v', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'v', 'data.csv'), 'id,name\n1,a\n2,"b, c"\n');
    writeFileSync(join(dir, 'v', 'sub', 'more.csv'), 'id,name\n3,d\n');
    writeFileSync(join(dir, 'rows.json'), '[{"id": 1, "x": null}]');
    writeFileSync(join(dir, 'rows.jsonl'), '{"id": 1}\n\n{"id": 2}\n');
    writeFileSync(join(dir, 't.tsv'), 'a\tb\n1\t2\n');
    writeFileSync(join(dir, 'p.parquet'), 'PAR1');
    const r = python(
      `
import json, cairn_helper as c
print(json.dumps([c.read_table("train"), c.read_table("v"), c.read_table("rows.json"), c.read_table("rows.jsonl"), c.read_table("t.tsv")]))
for bad in ["nope", "p.parquet"]:
    try:
        c.read_table(bad)
        raise SystemExit("no error for " + bad)
    except (FileNotFoundError, ImportError) as e:
        print(type(e).__name__, str(e).split(";")[0])
`,
      { cwd: dir, env: { CAIRN_INPUT_TRAIN: join(dir, 'v', 'sub') } },
    );
    expect(r.stderr).toBe('');
    const [first, ...rest] = r.stdout.trim().split('\n');
    expect(JSON.parse(first!)).toEqual([
      [{ id: '3', name: 'd' }],
      [
        { id: '1', name: 'a' },
        { id: '2', name: 'b, c' },
        { id: '3', name: 'd' },
      ],
      [{ id: 1, x: null }],
      [{ id: 1 }, { id: 2 }],
      [{ a: '1', b: '2' }],
    ]);
    expect(rest).toEqual([
      "FileNotFoundError no input 'nope' (CAIRN_INPUT_NOPE is not set) and no such file or folder",
      'ImportError reading Parquet needs pandas or pyarrow (pip install pyarrow)',
    ]);
  });

  it('finds inputs and folders from the environment', () => {
    const dir = tmp();
    const r = python(
      `
import cairn_helper as c
print(c.input_path("train-v2.csv"))
print(c.input_env_name("a b/ü"))
print(c.output_dir())
try:
    c.input_path("test")
except KeyError as e:
    print("KeyError", "CAIRN_INPUT_TRAIN_V2_CSV" in str(e))
`,
      { cwd: dir, env: { CAIRN_INPUT_TRAIN_V2_CSV: '/data/train.csv', CAIRN_OUTPUT_DIR: join(dir, 'run', 'out') } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      '/data/train.csv',
      'CAIRN_INPUT_A_B__',
      join(dir, 'run', 'out'),
      'KeyError True',
      '',
    ]);
    expect(existsSync(join(dir, 'run', 'out'))).toBe(true);
  });

  it('saves checkpoints atomically and finds the newest complete one', () => {
    const dir = tmp();
    const ckpt = join(dir, 'ckpt');
    const r = python(
      `
import os, cairn_helper as c
assert c.latest_checkpoint() is None
for step in (1, 10, 2):
    with c.save_checkpoint(step) as d:
        assert os.path.basename(d).startswith(".tmp-step-%d-" % step)
        with open(os.path.join(d, "model.bin"), "w") as f:
            f.write("weights %d" % step)
os.makedirs(os.path.join(c.checkpoint_dir(), "step-99"))      # no COMPLETE: unfinished
try:
    with c.save_checkpoint(50) as d:
        open(os.path.join(d, "model.bin"), "w").write("half")
        raise RuntimeError("killed mid-save")
except RuntimeError:
    pass
print(c.latest_checkpoint())
with c.save_checkpoint(10) as d:                               # replaces step-10
    open(os.path.join(d, "model.bin"), "w").write("again")
print(open(os.path.join(c.latest_checkpoint(), "model.bin")).read())
`,
      { cwd: dir, env: { CAIRN_CHECKPOINT_DIR: ckpt } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([join(ckpt, 'step-10'), 'again', '']);
    expect(readdirSync(ckpt).sort()).toEqual(['step-1', 'step-10', 'step-2', 'step-99']);
    expect(readdirSync(join(ckpt, 'step-10')).sort()).toEqual(['COMPLETE', 'model.bin']);
    expect(JSON.parse(readFileSync(join(ckpt, 'step-10', 'COMPLETE'), 'utf8'))).toMatchObject({ step: 10 });
  });

  it('lets a preemption callback log while the interrupted main thread is inside a log call', () => {
    const dir = tmp();
    const file = join(dir, 'metrics.jsonl');
    // Deterministic stand-in for a signal landing mid-log_metric: hold the helper's lock, then
    // signal ourselves; the handler runs at the next bytecode, still inside the lock.
    const r = spawnSync(
      PYTHON,
      [
        '-c',
        `
import os, signal, time, cairn_helper as c
c.on_preempt(lambda: c.log_param("preempted", True))
with c._lock:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
`,
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          PYTHONPATH: HELPER_DIR,
          PYTHONDONTWRITEBYTECODE: '1',
          CAIRN_METRICS_FILE: file,
        },
        encoding: 'utf8',
        timeout: 20_000,
        killSignal: 'SIGKILL',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(143);
    expect(records(file)).toEqual([{ kind: 'param', name: 'preempted', value: true }]);
  });

  it('runs the on_preempt callback on SIGTERM, then exits with 143', async () => {
    const dir = tmp();
    const ckpt = join(dir, 'ckpt');
    const file = join(dir, 'metrics.jsonl');
    mkdirSync(ckpt);
    const script = `
import os, sys, time, cairn_helper as c
step = 0
def save():
    with c.save_checkpoint(step) as d:
        open(os.path.join(d, "state"), "w").write(str(step))
    c.log_param("preempted_at", step)
c.on_preempt(save)
# os.write, not print: the handler may interrupt a print() of the main thread (see on_preempt).
c.on_preempt(lambda: os.write(1, b"second callback\\n"), exit=False)
for step in range(1, 8):
    c.log_metric("loss", 1.0 / step, step=step)
print("ready", flush=True)
while True:  # logs without pause, so the signal often lands while the helper holds its lock
    c.log_metric("spin", 0.0, step=0)
print("not reached")
`;
    const child = spawn(PYTHON, ['-c', script], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        PYTHONPATH: HELPER_DIR,
        PYTHONDONTWRITEBYTECODE: '1',
        CAIRN_METRICS_FILE: file,
        CAIRN_CHECKPOINT_DIR: ckpt,
      },
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Fails fast (instead of timing out) when the script dies before it is ready.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) resolve();
      });
      void exited.then((code) => reject(new Error(`python exited with ${code} before it was ready: ${err}`)));
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(err).toBe('');
    expect(out).toBe('ready\nsecond callback\n');
    expect(readFileSync(join(ckpt, 'step-7', 'state'), 'utf8')).toBe('7');
    const recs = records(file);
    expect(recs.slice(0, 7).map((x) => x.name)).toEqual(Array(7).fill('loss'));
    expect(recs.slice(7, -1).every((x) => x.name === 'spin')).toBe(true);
    expect(recs.at(-1)).toEqual({ kind: 'param', name: 'preempted_at', value: 7 });
  });
});
