// Finding and comparing runs through the real CLI, and a foreground run that streams its job's
// output: every command is a separate process, as a user types them.
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

function ok<T>(cwd: string, args: string[]): T {
  const r = cli([...args, '--json'], { cwd });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

describe('cairn run: names, ls, compare, streaming (CLI)', () => {
  const tmp = useTempDirs();
  const setup = (command: string) => {
    const cwd = tmp();
    ok(cwd, ['init']);
    writeFileSync(
      join(cwd, 'cairn.yaml'),
      `name: train\ncommand: ${JSON.stringify(command)}\nparams:\n  lr: 0.1\n  depth: 3\nresources:\n  time: 1m\n`,
    );
    return cwd;
  };
  const METRIC = `echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"acc\\",\\"value\\":{params.depth}}" >> "$CAIRN_METRICS_FILE"`;

  it(
    '--name/--tag/--note, ls with --filter/--sort/--columns as text, CSV and Markdown, compare by name',
    { timeout: 120_000 },
    () => {
      const cwd = setup(`${METRIC}; echo depth {params.depth}`);
      ok(cwd, ['run', '--name', 'shallow', '--tag', 'team=a', '--note', 'baseline', '--set', 'params.depth=2']);
      ok(cwd, ['run', '--name', 'deep', '--tag', 'team=b', '--set', 'params.depth=8']);
      const gen = ok<{ humanName: string }>(cwd, ['run', '--set', 'params.depth=5']);
      expect(gen.humanName).toMatch(/^[a-z]+-[a-z]+-\d\d$/);
      const ls = cli(
        [
          'run',
          'ls',
          '--filter',
          'metrics.acc > 2',
          '--sort',
          '-metrics.acc',
          '--columns',
          'params.depth,metrics.acc,tags.team',
        ],
        { cwd },
      );
      expect(ls.code).toBe(0);
      const lines = ls.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^id\s+name\s+spec\s+status\s+created\s+params\.depth\s+metrics\.acc\s+tags\.team$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual(['deep', gen.humanName]);
      const csv = cli(['run', 'ls', '--sort', 'params.depth', '--columns', 'params.depth,tags.team', '--csv'], { cwd });
      expect(
        csv.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(',').slice(1, 2).concat(l.split(',').slice(5))),
      ).toEqual([
        ['name', 'params.depth', 'tags.team'],
        ['shallow', '2', 'a'],
        [gen.humanName, '5', ''],
        ['deep', '8', 'b'],
      ]);
      const md = cli(['run', 'compare', 'shallow', 'deep', '--md'], { cwd });
      expect(md.code).toBe(0);
      expect(md.stdout).toContain('|  | shallow | deep |');
      expect(md.stdout).toContain('| params.depth | 2 | 8 |');
      expect(md.stdout).toContain('| metrics.acc best (higher) | 2 | 8 * |');
      expect(md.stdout).not.toContain('params.lr'); // the same in both: only with --all
      const all = ok<{ params: Array<{ name: string; differs: boolean }> }>(cwd, [
        'run',
        'compare',
        'shal',
        'dee',
        '--all',
      ]);
      expect(all.params).toEqual([
        { name: 'depth', values: [2, 8], differs: true },
        { name: 'lr', values: [0.1, 0.1], differs: false },
      ]);
      const show = cli(['run', 'show', 'shallow'], { cwd });
      expect(show.stdout).toMatch(/run shallow +\[completed\]/);
      expect(show.stdout).toContain('tags      team=a');
      expect(show.stdout).toContain('note      baseline');
      // UUIDv7 ids of runs made close together share their first characters (the time).
      const ids = ok<{ runs: Array<{ id: string }> }>(cwd, ['run', 'ls']).runs.map((r) => r.id);
      let common = ids[0]!;
      while (!ids.every((id) => id.startsWith(common))) common = common.slice(0, -1);
      expect(common.length).toBeGreaterThanOrEqual(2);
      const amb = cli(['run', 'show', common, '--json'], { cwd });
      expect((amb.json as { error: { code: string } }).error.code).toBe('AMBIGUOUS_REF');
      const bad = cli(['run', 'ls', '--filter', 'metrics.acc >> 1', '--json'], { cwd });
      expect((bad.json as { error: { code: string; message: string } }).error).toMatchObject({ code: 'USAGE' });
      // The log vouches for names and tags: a row renamed behind Cairn's back fails audit verify.
      expect(cli(['audit', 'verify'], { cwd }).code).toBe(0);
      const db = new Database(join(cwd, '.cairn', 'meta.db'));
      db.prepare("update runs set human_name = 'renamed', tags = '{}' where human_name = 'deep'").run();
      db.close();
      const verify = cli(['audit', 'verify'], { cwd });
      expect(verify.code).toBe(1);
      expect(verify.stdout + verify.stderr).toContain('its name is renamed but the log recorded deep');
      expect(verify.stdout + verify.stderr).toContain('its tags are {} but the log recorded {"team":"b"}');
    },
  );

  it('--set of a param the spec does not define is refused with a suggestion; nothing is submitted', () => {
    const cwd = setup('exit 0');
    const r = cli(['run', '--set', 'params.detph=4'], { cwd });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the spec defines no param "detph"');
    expect(r.stderr).toContain('did you mean params.depth?');
    expect(ok<{ runs: unknown[] }>(cwd, ['run', 'ls']).runs).toEqual([]);
  });

  it(
    'a foreground run streams its output while the job runs; a failed one ends with the tail of its stderr',
    { timeout: 120_000 },
    async () => {
      // The job waits for a file the test writes only once it has seen the job's first line in
      // cairn's own stdout: without streaming, the job would wait until its time limit.
      const cwd = setup(
        'echo step one; while [ ! -f go ]; do sleep 0.1; done; echo step two; for i in $(seq 1 30); do echo "err line $i" >&2; done; exit 3',
      );
      const child = cliSpawn(['run'], { cwd });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no streamed output; stdout so far: ${out}`)), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('step one')) {
            clearTimeout(timer);
            writeFileSync(join(cwd, 'go'), '');
            resolve();
          }
        });
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(1);
      expect(out).toContain('step two');
      expect(err).toContain('err line 1\n');
      const tail = err.slice(err.indexOf('--- last lines'));
      expect(tail).toContain('err line 30');
      expect(tail).toContain('err line 11\n');
      expect(tail).not.toContain('err line 10\n');
      expect(err).toContain('error[RUN_FAILED]');
      const j = cli(['run', '--force', '--json'], { cwd });
      expect((j.json as { error: { data: { stderrTail: string } } }).error.data.stderrTail.split('\n')).toHaveLength(
        20,
      );
    },
  );
});
