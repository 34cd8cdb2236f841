// Pipelines through the real CLI: `cairn dag`, `cairn repro` (exit codes, --json, --dry-run),
// and `cairn run` refusing a pipeline file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

interface Repro {
  lock: string | null;
  stages: Array<{ stage: string; status: string; output: string | null }>;
}

describe('cairn repro / cairn dag (CLI)', () => {
  const tmp = useTempDirs();

  it(
    'draws, runs stale stages, is up to date the second time, and exits 1 when a stage fails',
    { timeout: 120_000 },
    () => {
      const cwd = tmp();
      expect(cli(['init'], { cwd }).code).toBe(0);
      writeFileSync(
        join(cwd, 'cairn.yaml'),
        [
          'stages:',
          '  make-data:',
          '    command: echo 1,2 > "$CAIRN_OUTPUT_DIR/d.csv"',
          '    code: [cairn.yaml]',
          '  train:',
          '    command: cat "$CAIRN_INPUT_MAKE_DATA/d.csv" > "$CAIRN_OUTPUT_DIR/m.txt"; echo trained',
          '    code: [cairn.yaml]',
          '    deps: [make-data]',
          '',
        ].join('\n'),
      );
      const dag = cli(['dag', '--mermaid'], { cwd });
      expect(dag.stdout).toContain('make_data --> train');
      expect(cli(['dag', '--dot', '--json'], { cwd }).json).toMatchObject({
        stages: [
          { name: 'make-data', deps: [] },
          { name: 'train', deps: ['make-data'] },
        ],
      });
      const first = cli(['repro', '--json'], { cwd });
      expect(first.code).toBe(0);
      expect((first.json as Repro).stages.map((s) => [s.stage, s.status, s.output])).toEqual([
        ['make-data', 'ran', 'runs/make-data@v1'],
        ['train', 'ran', 'runs/train@v1'],
      ]);
      const second = cli(['repro'], { cwd });
      expect([second.code, second.stdout.trim()]).toEqual([
        0,
        `0 ran, 2 up to date, 0 failed, 0 skipped; pinned in ${join(cwd, 'cairn.lock')}`,
      ]);
      const run = cli(['run', '--json'], { cwd });
      expect((run.json as { error: { code: string; hint: string } }).error).toMatchObject({
        code: 'USAGE',
        hint: expect.stringContaining('cairn repro'),
      });
      writeFileSync(
        join(cwd, 'cairn.yaml'),
        `${'stages:\n  bad:\n    command: exit 4\n  after:\n    command: "true"\n    deps: [bad]\n'}`,
      );
      expect((cli(['repro', '--dry-run', '--json'], { cwd }).json as Repro).stages.map((s) => s.status)).toEqual([
        'ran',
        'ran', // would run: its upstream would
      ]);
      const failed = cli(['repro', '--json'], { cwd });
      expect(failed.code).toBe(1);
      expect((failed.json as { error: { code: string; message: string } }).error.message).toContain(
        'bad (exited with status 4)',
      );
    },
  );
});
