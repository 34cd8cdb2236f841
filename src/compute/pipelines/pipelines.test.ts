import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { drawDag, readPipeline } from './pipeline.js';
import { repro } from './repro.js';

// Real pipelines on the local backend, in a real git repository.
describe('pipelines: stages, repro, dag, cairn.lock', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const git = (cwd: string, ...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
      cwd,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  const PIPELINE = `stages:
  prep:
    command: sh src/prep.sh {params.n}
    code: [src/prep.sh]
    params_file: params.yaml
  features:
    command: sh src/features.sh
    code: [src/features.sh]
  train:
    command: sh src/train.sh {params.lr}
    code: [src/train.sh]
    deps: [prep, features]
    params:
      lr: 0.1
`;
  const setup = async (pipeline = PIPELINE) => {
    const root = tmp();
    git(root, 'init', '-q');
    const ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
    open.push(ws);
    writeTree(root, {
      'params.yaml': 'n: 3\n',
      'src/prep.sh': 'echo "rows $1" > "$CAIRN_OUTPUT_DIR/rows.txt"; sleep 1',
      'src/features.sh': 'echo feat > "$CAIRN_OUTPUT_DIR/f.txt"; sleep 1',
      'src/train.sh':
        'cat "$CAIRN_INPUT_PREP/rows.txt" "$CAIRN_INPUT_FEATURES/f.txt" > "$CAIRN_OUTPUT_DIR/model.txt"; echo "lr $1" >> "$CAIRN_OUTPUT_DIR/model.txt"',
      'README.md': 'unrelated\n',
    });
    writeFileSync(join(root, 'cairn.yaml'), pipeline);
    writeFileSync(join(root, '.gitignore'), '.cairn/\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-qm', 'init');
    const events = async () =>
      (await ws.meta.db.selectFrom('audit_events').select('action').execute()).filter((e) =>
        e.action.startsWith('run.'),
      ).length;
    return { root, ws, file: join(root, 'cairn.yaml'), events };
  };
  const statuses = (r: Awaited<ReturnType<typeof repro>>) =>
    Object.fromEntries(r.stages.map((s) => [s.stage, s.status]));

  it(
    'runs stale stages only, upstream outputs as inputs, independent stages at once; an unrelated commit changes nothing',
    { timeout: 120_000 },
    async () => {
      const { root, ws, file, events } = await setup();
      const first = await repro(ws, file, { pollMs: 50 });
      expect(statuses(first)).toEqual({ features: 'ran', prep: 'ran', train: 'ran' });
      const train = first.stages.find((s) => s.stage === 'train')!;
      const runs = await ws.meta.db.selectFrom('runs').selectAll().execute();
      const byName = (n: string) => runs.find((r) => r.name === n)!;
      expect(readFileSync(join(byName('train').dir, 'out', 'model.txt'), 'utf8')).toBe('rows 3\nfeat\nlr 0.1\n');
      // prep and features (1 s each) ran at the same time: each started before the other ended.
      const [p, f] = [byName('prep'), byName('features')];
      expect(p.started_at! < f.ended_at! && f.started_at! < p.ended_at!).toBe(true);
      expect(train.output).toBe('runs/train@v1');
      expect(JSON.parse(byName('train').tags)).toEqual({ pipeline: 'cairn.yaml', stage: 'train' });

      // Up to date: nothing runs and nothing is recorded.
      const before = await events();
      const again = await repro(ws, file, { pollMs: 50 });
      expect(statuses(again)).toEqual({ features: 'up-to-date', prep: 'up-to-date', train: 'up-to-date' });
      expect(again.stages.find((s) => s.stage === 'train')!.run!.id).toBe(train.run!.id);
      expect(await events()).toBe(before);

      // A commit that touches none of the declared code paths: still up to date.
      writeFileSync(join(root, 'README.md'), 'changed\n');
      git(root, 'commit', '-qam', 'docs');
      expect(statuses(await repro(ws, file, { dryRun: true }))).toEqual({
        features: 'up-to-date',
        prep: 'up-to-date',
        train: 'up-to-date',
      });

      // A param from the params file changes prep, and so train (its input), not features.
      writeFileSync(join(root, 'params.yaml'), 'n: 4\n');
      const third = await repro(ws, file, { pollMs: 50 });
      expect(statuses(third)).toEqual({ features: 'up-to-date', prep: 'ran', train: 'ran' });
      expect(third.stages.find((s) => s.stage === 'prep')!.output).toBe('runs/prep@v2');

      // Only what a target needs.
      writeFileSync(join(root, 'src/features.sh'), 'echo feat2 > "$CAIRN_OUTPUT_DIR/f.txt"');
      const onlyFeatures = await repro(ws, file, { target: 'features', pollMs: 50 });
      expect(statuses(onlyFeatures)).toEqual({ features: 'ran' });
    },
  );

  it(
    'cairn.lock pins every stage (run key, inputs by digest, code, params, output) and keeps the models',
    { timeout: 120_000 },
    async () => {
      const { root, ws, file } = await setup();
      writeFileSync(
        join(root, 'cairn.lock'),
        JSON.stringify({ format: 'cairn.lock/v1', models: { m: { ref: 'm@v1', digest: `sha256:${'a'.repeat(64)}` } } }),
      );
      const r = await repro(ws, file, { pollMs: 50 });
      expect(r.lock).toBe(join(root, 'cairn.lock'));
      const lock = JSON.parse(readFileSync(r.lock!, 'utf8')) as {
        models: object;
        stages: Record<
          string,
          {
            runKey: string;
            inputs: Record<string, { ref: string; digest: string }>;
            code: { paths: string[] };
            params: object;
            outputs: { ref: string; digest: string };
          }
        >;
      };
      expect(Object.keys(lock.models)).toEqual(['m']);
      expect(Object.keys(lock.stages)).toEqual(['features', 'prep', 'train']);
      const t = lock.stages.train!;
      expect(Object.keys(t.inputs)).toEqual(['features', 'prep']);
      expect(t.inputs.prep!.ref).toBe('runs/prep@v1');
      expect(t.inputs.prep!.digest).toBe(lock.stages.prep!.outputs.digest);
      expect(t.code.paths).toEqual(['src/train.sh']);
      expect(t.params).toEqual({ lr: 0.1 });
      expect(t.runKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    },
  );

  it(
    'a failed stage skips the stages after it; dag draws text, Mermaid and DOT; cycles and unknown deps are errors',
    { timeout: 120_000 },
    async () => {
      const { ws, file, root } = await setup(PIPELINE.replace('sh src/features.sh', 'sh -c "echo broken >&2; exit 2"'));
      const r = await repro(ws, file, { pollMs: 50 });
      expect(statuses(r)).toEqual({ features: 'failed', prep: 'ran', train: 'skipped' });
      expect(r.stages.find((s) => s.stage === 'train')!.reason).toBe('stage features failed');
      const p = readPipeline(file);
      expect(drawDag(p, 'text')).toBe('features\nprep\ntrain <- features, prep');
      expect(drawDag(p, 'mermaid')).toContain('  prep --> train');
      expect(drawDag(p, 'dot')).toContain('  "features" -> "train";');
      writeFileSync(
        join(root, 'cyc.yaml'),
        'stages:\n  a:\n    command: x\n    deps: [b]\n  b:\n    command: y\n    deps: [a]\n  c:\n    command: z\n    deps: [nope]\n',
      );
      expect(() => readPipeline(join(root, 'cyc.yaml'))).toThrow(/deps names no stage "nope"/);
      writeFileSync(
        join(root, 'cyc.yaml'),
        'stages:\n  a:\n    command: x\n    deps: [b]\n  b:\n    command: y\n    deps: [a]\n',
      );
      expect(() => readPipeline(join(root, 'cyc.yaml'))).toThrow(/a, b depend on each other in a cycle/);
      writeFileSync(join(root, 'bad.yaml'), 'stages:\n  a:\n    command: x\n    gpu: 1\n');
      expect(() => readPipeline(join(root, 'bad.yaml'))).toThrow(/stage a: .*unknown key "gpu"/s);
      expect(existsSync(join(root, 'cairn.lock'))).toBe(true);
    },
  );
});
