import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../test-support/cli.js';
import { shareSlurmCluster, slurmEnv, slurmFacts, type SlurmFacts } from '../../test-support/slurm.js';
import { useTempDirs } from '../../test-support/temp.js';
import { JOB_CLAIM } from './store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ok<T>(cwd: string, args: string[], env?: NodeJS.ProcessEnv): T {
  const r = cli([...args, '--json'], { cwd, ...(env ? { env } : {}) });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

/** Every job Slurm holds for a run (its name is cairn-<runId>), oldest first: id and state. */
function jobsOfRun(f: SlurmFacts, runId: string): Array<{ id: string; state: string }> {
  const r = spawnSync('squeue', ['-h', '--states=all', `--name=cairn-${runId}`, '-o', '%i|%T'], {
    env: slurmEnv(f),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`squeue: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ id: l.split('|')[0]!, state: l.split('|')[1]! }))
    .sort((a, b) => Number(a.id) - Number(b.id));
}

/**
 * An sbatch in front of the real one that, the first time, tells the test the job id Slurm gave
 * and then never returns: the dispatcher waiting on it is killed there, with its job in Slurm
 * and the id nowhere in Cairn.
 */
function stallingSbatch(dir: string): { bin: string; mark: string; pid: string } {
  const real = spawnSync('sh', ['-c', 'command -v sbatch'], { encoding: 'utf8' }).stdout.trim();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const mark = join(dir, 'sbatch.out');
  const pid = join(dir, 'sbatch.pid');
  writeFileSync(
    join(bin, 'sbatch'),
    [
      '#!/bin/sh',
      // A check (--test-only) submits nothing.
      `case " $* " in *" --test-only "*) exec ${real} "$@";; esac`,
      `out=$(${real} "$@") || exit $?`,
      'printf "%s\\n" "$out"',
      `[ -e ${mark} ] && exit 0`,
      `echo $$ > ${pid}`,
      `printf "%s\\n" "$out" > ${mark}.tmp && mv ${mark}.tmp ${mark}`,
      'exec sleep 600',
      '',
    ].join('\n'),
  );
  chmodSync(join(bin, 'sbatch'), 0o755);
  return { bin, mark, pid };
}

/**
 * A dispatcher killed (SIGKILL) after sbatch accepted the run's job and before it recorded the
 * job's id leaves its claim on the queued run. Whoever takes the stale claim over must find that
 * job and adopt it: a second sbatch would run the job twice, in one folder, on twice the GPUs.
 */
describe('dispatch on Slurm: a dispatcher killed between sbatch and recording the job', () => {
  const tmp = useTempDirs();

  it('leaves one Slurm job for the run, adopted by the next dispatcher', { timeout: 300_000 }, async (ctx) => {
    const f = slurmFacts();
    if (!f) return ctx.skip();
    ctx.onTestFinished(await shareSlurmCluster(f));
    const cwd = tmp();
    ok(cwd, ['init']);
    writeFileSync(join(cwd, 'd.csv'), 'x\n1\n');
    ok(cwd, ['data', 'add', 'd.csv', '--name', 'toy']);
    const spec = join(cwd, 'once.yaml');
    writeFileSync(
      spec,
      'name: once\ncommand: \'echo start >> "$CAIRN_OUTPUT_DIR/../starts.log"; sleep 2\'\n' +
        'inputs:\n  data: toy@v1\nresources:\n  time: 10m\nbackend: slurm\n',
    );
    const stall = stallingSbatch(tmp());
    const env = { ...slurmEnv(f), PATH: `${stall.bin}:${process.env.PATH}` };
    ctx.onTestFinished(() => {
      if (existsSync(stall.pid)) spawnSync('kill', ['-9', readFileSync(stall.pid, 'utf8').trim()]);
    });

    const first = cliSpawn(['run', spec, '--detach', '--json'], { cwd, env });
    const exited = new Promise((r) => first.once('exit', r));
    for (let i = 0; !existsSync(stall.mark); i++) {
      if (i > 600) throw new Error('sbatch was never called');
      await sleep(100);
    }
    first.kill('SIGKILL');
    await exited;
    const jobA = readFileSync(stall.mark, 'utf8').trim().split(';')[0]!;

    // The claim is the killed dispatcher's; made stale rather than waited for (30 minutes).
    const db = new Database(join(cwd, '.cairn', 'meta.db'));
    const row = db.prepare('select id, status, backend_id from runs').get() as {
      id: string;
      status: string;
      backend_id: string;
    };
    expect([row.status, row.backend_id.startsWith(JOB_CLAIM)]).toEqual(['queued', true]);
    const stale = `${JOB_CLAIM}${Date.now() - 31 * 60_000}:${row.backend_id.split(':')[2]}`;
    db.prepare('update runs set backend_id = ? where id = ?').run(stale, row.id);
    db.close();

    const done = ok<{ status: string; job: string }>(cwd, ['run', 'wait', row.id], env);
    expect(done.status).toBe('completed');
    // Every job of the run has ended before its starts are counted.
    for (let i = 0; jobsOfRun(f, row.id).some((j) => ['PENDING', 'RUNNING', 'COMPLETING'].includes(j.state)); i++) {
      if (i > 600) throw new Error('a job of the run never ended');
      await sleep(100);
    }
    const jobs = jobsOfRun(f, row.id);
    const ran = jobs.filter((j) => j.state !== 'CANCELLED');
    expect(
      ran.map((j) => j.id),
      JSON.stringify(jobs),
    ).toEqual([jobA]);
    expect(done.job).toBe(jobA);
    expect(readFileSync(join(cwd, '.cairn', 'runs', row.id, 'starts.log'), 'utf8'), 'the job ran twice').toBe(
      'start\n',
    );
  });
});
