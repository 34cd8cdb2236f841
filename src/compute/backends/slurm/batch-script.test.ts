import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../../core/errors.js';
import { renderCommand } from '../../run-spec/render-command.js';
import type { JobRequest } from '../port.js';
import { batchScript, sbatchArgs, shellQuote } from './batch-script.js';

// The batch script is plain sh: run it here, without Slurm, the way slurmd would.
const root = mkdtempSync(join(tmpdir(), 'cairn-sbatch-script-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function job(command: string, over: Partial<JobRequest> = {}): JobRequest {
  const cwd = mkdtempSync(join(root, 'job-'));
  return {
    runId: '01900000-0000-7000-8000-000000000000',
    command,
    cwd,
    env: {},
    stdoutPath: join(cwd, 'out%j.log'),
    stderrPath: join(cwd, 'err.log'),
    resources: { gpus: 0, cpus: 1, memoryMb: 0, timeLimitS: 0 },
    gracePeriodS: 5,
    requeue: false,
    ...over,
  };
}

function writeScript(j: JobRequest): string {
  const path = join(j.cwd, 'job.sbatch');
  writeFileSync(path, batchScript(j), { mode: 0o700 });
  return path;
}

async function waitFile(path: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Slurm batch script', () => {
  it('quotes any value as one shell word', () => {
    for (const v of ["it's", '$HOME `id` "q" \\ \n end', '', "''"]) {
      expect(spawnSync('/bin/sh', ['-c', `printf %s ${shellQuote(v)}`], { encoding: 'utf8' }).stdout).toBe(v);
    }
  });

  it('exports the environment verbatim, runs the command in cwd and exits with its status', () => {
    const j = job('printf "%s|%s|%s" "$ODD" "$PLAIN" "$(pwd)"; exit 7', { env: { ODD: "a'b $X `y`\nz", PLAIN: 'p' } });
    const res = spawnSync('/bin/sh', [writeScript(j)], { encoding: 'utf8', cwd: '/' });
    expect(res.stdout).toBe(`a'b $X \`y\`\nz|p|${j.cwd}`);
    expect(res.status).toBe(7);
  });

  it('a param in the command reaches the job verbatim and never runs as shell code', () => {
    const value = `a; touch injected; echo "$(touch injected2)" 'it''s'`;
    const j = job(renderCommand({ command: `printf '<%s>' {params.x} "{params.x}"`, params: { x: value } }));
    const res = spawnSync('/bin/sh', [writeScript(j)], { encoding: 'utf8', cwd: '/' });
    expect(res.stdout).toBe(`<${value}><${value}>`);
    expect(readdirSync(j.cwd)).toEqual(['job.sbatch']);
  });

  it('refuses an environment name the shell cannot export', () => {
    for (const name of ['BAD-NAME', 'A=B', '1X', '']) {
      let err: unknown;
      try {
        batchScript(job('true', { env: { [name]: 'x' } }));
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
    }
  });

  it("passes SIGTERM on to the job's whole process group, then outlives the command until killed", async () => {
    // The command's trap fires and a process it started gets the signal too; the wrapper stays,
    // so that Slurm, not the command's exit, decides the final state (TIMEOUT, CANCELLED).
    const j = job(
      `trap 'echo saved > checkpoint.txt; exit 143' TERM; (trap 'echo child > child.txt; exit 0' TERM; while :; do sleep 0.1; done) & echo up > up.txt; while :; do sleep 0.1; done`,
    );
    // detached: its own process group, as slurmstepd gives the batch shell.
    const wrapper = spawn('/bin/sh', [writeScript(j)], { stdio: 'ignore', detached: true });
    const exited = new Promise<number | string | null>((r) => wrapper.on('exit', (code, signal) => r(signal ?? code)));
    try {
      await waitFile(join(j.cwd, 'up.txt'));
      wrapper.kill('SIGTERM');
      await waitFile(join(j.cwd, 'checkpoint.txt'));
      await waitFile(join(j.cwd, 'child.txt'));
      expect(readFileSync(join(j.cwd, 'checkpoint.txt'), 'utf8')).toBe('saved\n');
      await new Promise((r) => setTimeout(r, 500));
      expect(wrapper.exitCode).toBeNull();
    } finally {
      // Slurm's SIGKILL reaches the whole group: the wrapper and its `sleep 1`. Also when the
      // test failed: a wrapper left behind loops for ever.
      try {
        process.kill(-wrapper.pid!, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    expect(await exited).toBe('SIGKILL');
  });
});

describe('sbatch arguments', () => {
  it("asks for the job's resources, files, placement and signals", () => {
    const j = job('true', {
      resources: { gpus: 2, cpus: 4, memoryMb: 1500, timeLimitS: 61 },
      gracePeriodS: 30,
      requeue: true,
      slurm: { partition: 'gpu' },
    });
    const args = sbatchArgs(j, '/x/job.sbatch', { partition: 'debug', account: 'ml' });
    expect(args).toEqual(
      expect.arrayContaining([
        '--parsable',
        `--job-name=cairn-${j.runId}`,
        '--hold',
        `--output=${j.cwd}/out%%j.log`,
        `--error=${j.cwd}/err.log`,
        '--open-mode=append',
        `--chdir=${j.cwd}`,
        '--cpus-per-task=4',
        '--gres=gpu:2',
        '--mem=1500M',
        '--time=2',
        '--signal=B:TERM@30',
        '--partition=gpu',
        '--account=ml',
        '--requeue',
        '--export=ALL',
      ]),
    );
    expect(args.at(-1)).toBe('/x/job.sbatch');
    expect(args.some((a) => a.startsWith('--qos'))).toBe(false);
  });

  it('leaves out what the job does not ask for', () => {
    const args = sbatchArgs(job('true'), '/x/job.sbatch', {});
    expect(args.filter((a) => /^--(gres|mem|time|signal|partition|account|qos)=/.test(a))).toEqual([]);
    expect(args).toContain('--no-requeue');
  });

  it("a server's job (baseEnv): --export=NONE, and the script exports the base and then the job's own", () => {
    const base = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', CAIRN_RUN_ID: 'from-base' };
    const j = job('printf "%s|%s|%s|%s" "$PATH" "$LANG" "$CAIRN_RUN_ID" "${PGPASSWORD-unset}"', {
      baseEnv: base,
      env: { CAIRN_RUN_ID: 'r1' },
    });
    const args = sbatchArgs(j, '/x/job.sbatch', {});
    expect(args).toContain('--export=NONE');
    expect(args).not.toContain('--export=ALL');
    // As slurmd would start it with --export=NONE: nothing of the submitter's environment.
    const res = spawnSync('/bin/sh', [writeScript(j)], { encoding: 'utf8', cwd: '/', env: {} });
    expect(res.stdout).toBe('/usr/bin:/bin|C.UTF-8|r1|unset');
  });

  it("a workspace's job (no baseEnv) keeps --export=ALL: the user's own environment is theirs", () => {
    const args = sbatchArgs(job('true'), '/x/job.sbatch', {});
    expect(args).toContain('--export=ALL');
    expect(args).not.toContain('--export=NONE');
  });
});
