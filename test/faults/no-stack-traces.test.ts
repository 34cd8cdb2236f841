// No stack traces (issue 10, item 13): every bad input a user can give is answered with an
// exit status, a stable error code and a message naming what to fix (file, line, column),
// never a Node stack, never "this is a bug"; output to a reader that went away ends quietly.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cli } from '../../src/test-support/cli.js';
import { makeTemp, rmTemp } from '../dataprep/support.js';

interface ErrorDoc {
  error: { code: string; message: string; hint: string; data: Record<string, unknown> };
}

interface BadInput {
  name: string;
  args: string[];
  exit: 1 | 2;
  code: string;
  /** What the message must say (the file, line and column of the mistake). */
  says: RegExp;
}

/** Neither a Node stack frame nor the internal-error wording, in any output. */
function expectNoTrace(text: string, what: string): void {
  expect(text, what).not.toMatch(/^\s+at .+(\(|:\d+:\d+)/m);
  expect(text, what).not.toMatch(/node:internal|this is a bug|Error: .*\n\s+at /);
}

const env = { CAIRN_ACTOR: 'tester@example.com' };

describe('bad input never prints a stack trace (CLI, table-driven)', () => {
  let cwd = '';
  const write = (name: string, text: string) => {
    const p = join(cwd, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
    return p;
  };
  const add = (name: string, files: Record<string, string>) => {
    for (const [f, t] of Object.entries(files)) write(join('src', name, f), t);
    const r = cli(['data', 'add', join(cwd, 'src', name), '--name', name], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    return `${name}@v1`;
  };

  beforeAll(() => {
    cwd = makeTemp('no-traces');
    expect(cli(['init'], { cwd, env }).code).toBe(0);
    add('tab', { 't.csv': 'id,v\n1,a\n2,b\n' });
    add('quoted', { 'q.csv': 'a,b\n1,2\n3,"4"x\n' });
    add('lines', { 'l.jsonl': '{"a":1}\n{"a":\n' });
    add('ev', { 'e.csv': 'f1,label\n0.1,0\n0.9,1\n0.8,1\n' });
    write('model/predict.sh', 'echo "loading weights..."\n');
    expect(
      cli(['model', 'register', 'clf', '--path', join(cwd, 'model'), '--format', 'custom'], { cwd, env }).code,
    ).toBe(0);
    write('suites/unknown-col.yaml', 'suite: s\nchecks:\n  - row_count: { min: 1 }\n  - sql: "id > 0 AND nope < 3"\n');
    write(
      'suites/yaml-suite.yaml',
      'suite: s\nchecks:\n  - row_count: { min: 1 }\n  - not_null: [id\n  - unique: [id]\n',
    );
    write('suites/yaml-quote.yaml', 'suite: s\nchecks:\n  - sql: "id > 0\n  - row_count: { min: 1 }\n');
    write('recipes/yaml-recipe.yaml', 'recipe: r\nsteps:\n\t- drop_duplicates: {}\n');
    write(
      'recipes/unknown-col.yaml',
      'recipe: r\nsteps:\n  - drop_duplicates: {}\n  - filter: "v = \'a\' OR nope > 3"\n',
    );
    write('recipes/unknown-fn.yaml', 'recipe: r\nsteps:\n  - filter: |\n      id > 0\n      AND frobnicate(v)\n');
    write(
      'eval/yaml-eval.yaml',
      'suite: e\ndata: { label: label, features: [f1]\nchecks:\n  - metric: { name: accuracy, min: 0.5 }\n',
    );
    write(
      'eval/garbage.yaml',
      'suite: e\ndata: { label: label, features: [f1] }\npredictor: { command: "sh predict.sh" }\nchecks:\n  - metric: { name: accuracy, min: 0.5 }\n',
    );
    write('runs/yaml-run.yaml', 'name: r\ncommand: "echo hi\ninputs:\n  data: tab@v1\n');
  });
  afterAll(() => rmTemp(cwd));

  const missing = () => join(cwd, 'no', 'such.yaml');
  const cases: Array<() => BadInput> = [
    () => ({
      name: 'a missing validation suite',
      args: ['data', 'validate', 'tab', '--suite', missing()],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot read the suite .*no\/such\.yaml: it does not exist$/,
    }),
    () => ({
      name: 'a missing evaluation suite',
      args: ['model', 'evaluate', 'clf', '--suite', missing(), '--data', 'ev'],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot read the evaluation suite .*no\/such\.yaml: it does not exist$/,
    }),
    () => ({
      name: 'a missing suite for compare',
      args: ['model', 'compare', 'clf', 'clf', '--suite', missing(), '--data', 'ev'],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot read the evaluation suite .*: it does not exist$/,
    }),
    () => ({
      name: 'a missing recipe',
      args: ['data', 'clean', 'tab', '--recipe', missing(), '--name', 'c'],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot read the recipe .*: it does not exist$/,
    }),
    // The general defence: a Node system error that escapes a command is an IO_ERROR naming the path.
    () => ({
      name: 'a missing --intended-use file',
      args: ['model', 'register', 'clf', '--path', join(cwd, 'model'), '--intended-use', join(cwd, 'nope.md')],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot open .*nope\.md: it does not exist$/,
    }),
    () => ({
      name: 'a missing --key-file for clone',
      args: ['clone', `file://${join(cwd, 'nowhere')}`, join(cwd, 'copy'), '--key-file', join(cwd, 'no.key')],
      exit: 1,
      code: 'IO_ERROR',
      says: /^cannot open .*no\.key: it does not exist$/,
    }),
    // YAML syntax: the line where the mistake is (an unclosed bracket or quote: where it opens).
    () => ({
      name: 'an unclosed [ in a suite',
      args: ['data', 'validate', 'tab', '--suite', join(cwd, 'suites/yaml-suite.yaml')],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /yaml-suite\.yaml:4: a \[ opened here \(column 15\) is never closed/,
    }),
    () => ({
      name: 'an unclosed quote in a suite',
      args: ['data', 'validate', 'tab', '--suite', join(cwd, 'suites/yaml-quote.yaml')],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /yaml-quote\.yaml:3: a quoted string \("\) opened here \(column 10\) is never closed/,
    }),
    () => ({
      name: 'a tab in a recipe',
      args: ['data', 'clean', 'tab', '--recipe', join(cwd, 'recipes/yaml-recipe.yaml'), '--name', 'c'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /yaml-recipe\.yaml:3: Tabs are not allowed as indentation \(column 1\)/,
    }),
    () => ({
      name: 'an unclosed { in an evaluation suite',
      args: ['model', 'evaluate', 'clf', '--suite', join(cwd, 'eval/yaml-eval.yaml'), '--data', 'ev'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /yaml-eval\.yaml:2: a \{ opened here \(column 7\) is never closed/,
    }),
    () => ({
      name: 'an unclosed quote in a run spec',
      args: ['run', 'plan', join(cwd, 'runs/yaml-run.yaml')],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /yaml-run\.yaml:2: a quoted string \("\) opened here \(column 10\) is never closed/,
    }),
    // DuckDB's binder and catalog errors, at the file, line and column the user wrote.
    () => ({
      name: 'a recipe filter naming a missing column',
      args: ['data', 'clean', 'tab', '--recipe', join(cwd, 'recipes/unknown-col.yaml'), '--name', 'c'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /^unknown-col\.yaml:4:25: recipe step 2 \(filter, line 4\): the filter .* cannot run: it names column "nope", which the table does not have at that step \(it has "id", "v"\)$/,
    }),
    () => ({
      name: 'a recipe filter calling a missing function (literal block)',
      args: ['data', 'clean', 'tab', '--recipe', join(cwd, 'recipes/unknown-fn.yaml'), '--name', 'c'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /^unknown-fn\.yaml:5:11: recipe step 1 \(filter, line 3\): the filter .* cannot run: there is no function "frobnicate"/,
    }),
    // DuckDB's sniffer: the version's file and the line.
    () => ({
      name: 'a CSV with text after a closing quote',
      args: ['data', 'profile', 'quoted'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /^quoted@v1: q\.csv, line 3: text follows the closing quote of field 2/,
    }),
    () => ({
      name: 'a JSON Lines file with a broken line',
      args: ['data', 'profile', 'lines'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /^lines@v1: l\.jsonl, line 2: not valid JSON/,
    }),
    // A predictor printing something else than scores.
    () => ({
      name: 'a predictor printing non-JSON',
      args: ['model', 'evaluate', 'clf', '--suite', join(cwd, 'eval/garbage.yaml'), '--data', 'ev'],
      exit: 1,
      code: 'INVALID_INPUT',
      says: /^the predictor command "sh predict\.sh" printed a line that is not a score \(line 1 of its output\): "loading weights\.\.\."$/,
    }),
  ];

  it.each(cases.map((c, i) => [i, c] as const))('case %i', (_i, make) => {
    const c = make();
    const r = cli([...c.args, '--json'], { cwd, env });
    expect(r.code, `${c.name}\n${r.stdout}${r.stderr}`).toBe(c.exit);
    const e = (r.json as ErrorDoc | undefined)?.error;
    expect(e?.code, `${c.name}: ${r.stdout}${r.stderr}`).toBe(c.code);
    expect(e!.message, c.name).toMatch(c.says);
    expect(e!.hint, c.name).toMatch(/\S/);
    expectNoTrace(r.stdout + r.stderr, c.name);
    const human = cli(c.args, { cwd, env });
    expect(human.code, c.name).toBe(c.exit);
    expect(human.stderr, c.name).toMatch(new RegExp(`^cairn: error\\[${c.code}\\]: `));
    expectNoTrace(human.stdout + human.stderr, c.name);
  });

  it('a SQL check naming a missing column: the check fails with the suite file, line and column in its message', () => {
    const r = cli(['data', 'validate', 'tab', '--suite', join(cwd, 'suites/unknown-col.yaml'), '--json'], { cwd, env });
    expect(r.code).toBe(1);
    const e = (r.json as ErrorDoc).error;
    expect(e.code).toBe('CHECK_FAILED');
    const checks = (e.data.report as { checks: Array<{ name: string; status: string; message: string }> }).checks;
    expect(checks.find((c) => c.name === 'sql')).toMatchObject({
      status: 'error',
      message:
        'unknown-col.yaml:4:22: the predicate "id > 0 AND nope < 3" cannot run: it names column "nope", which the table does not have (it has "id", "v")',
    });
    expectNoTrace(r.stdout + r.stderr, 'sql check');
  });

  it('a failed evaluation (predictor printing non-JSON) is on the audit record as model.evaluate, failed', () => {
    const log = cli(['audit', 'log', '--action', 'model.evaluate', '--json'], { cwd, env });
    const events = log.json as Array<{ outcome: string; reason?: string; target: { name: string } }>;
    expect(
      events.some(
        (ev) => ev.outcome === 'failed' && ev.target.name === 'clf' && ev.reason?.startsWith('INVALID_INPUT'),
      ),
    ).toBe(true);
    expect(cli(['audit', 'verify'], { cwd, env }).code).toBe(0);
  });
});

describe('output to a reader that went away ends quietly', () => {
  let cwd = '';
  beforeAll(() => {
    cwd = makeTemp('epipe');
    expect(cli(['init'], { cwd, env }).code).toBe(0);
    // Enough files that `data show --all` prints far more than a pipe holds (64 KiB).
    const dir = join(cwd, 'many');
    mkdirSync(dir);
    for (let i = 0; i < 2500; i++) writeFileSync(join(dir, `file-${String(i).padStart(5, '0')}.txt`), `${i}\n`);
    expect(cli(['data', 'add', dir, '--name', 'many'], { cwd, env }).code).toBe(0);
  });
  afterAll(() => rmTemp(cwd));

  /** Runs the CLI with its stdout pipe closed by the reader before anything is written. */
  const closedReader = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], {
        cwd,
        env: { ...process.env, CAIRN_NO_PROGRESS: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      p.stdout.destroy();
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => resolve({ code, stderr }));
    });

  it('`cairn … | head` style: the reader closes early; exit 0, nothing on stderr', async () => {
    for (const args of [
      ['audit', 'log'],
      ['audit', 'log', '--json'],
      ['data', 'ls'],
      ['data', 'show', 'many', '--all'],
    ]) {
      const r = await closedReader(args);
      expect([args.join(' '), r.code, r.stderr]).toEqual([args.join(' '), 0, '']);
    }
  });

  it('a real pipe into head -1: one line out, cairn exits 0 without a word on stderr', () => {
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" "${CLI}" data show many --all 2>"$ERR" | head -1; echo "\${PIPESTATUS[0]}" > "$RC"`,
      ],
      {
        cwd,
        env: { ...process.env, ...env, CAIRN_NO_PROGRESS: '1', ERR: join(cwd, 'err.txt'), RC: join(cwd, 'rc.txt') },
        encoding: 'utf8',
      },
    );
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(readFileSync(join(cwd, 'rc.txt'), 'utf8').trim()).toBe('0');
    expect(readFileSync(join(cwd, 'err.txt'), 'utf8')).toBe('');
  });

  it('a command that writes state still completes (and signs its checkpoint) when its reader is gone', async () => {
    writeFileSync(join(cwd, 'one.txt'), 'one');
    const r = await closedReader(['data', 'add', join(cwd, 'one.txt'), '--name', 'one']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect((cli(['data', 'ls', '--json'], { cwd, env }).json as Array<{ name: string }>).map((d) => d.name)).toContain(
      'one',
    );
    const v = cli(['audit', 'verify', '--json'], { cwd, env });
    expect(v.code, v.stdout).toBe(0);
  });
});
