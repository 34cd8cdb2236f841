// A team server's jobs are contributors' code. Started as the server's own account they could
// read its data dir: the signing key (and so forge the audit log), the metadata database, every
// project's objects. With `--job-user` a job runs as that OS account: these tests create a real
// throwaway account (they run as root here and in CI), submit through the real HTTP API, and
// let the job itself try to read the key and the database (docs/SERVER.md "Jobs run as their own
// account"). On the local backend and on the real Slurm cluster of this machine.
/* eslint-disable @typescript-eslint/no-explicit-any -- the CLI's --json answer is checked field by field */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIVATE_KEY_FILE } from '../../src/app/keys.js';
import { startServer } from '../../src/server/start.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { shareSlurmCluster, slurmEnv, slurmFacts } from '../../src/test-support/slurm.js';
import { servicesAs, startTeam, type Team } from './harness.js';

const isRoot = process.getuid?.() === 0;
const required = process.env.CAIRN_REQUIRE_SERVICES === '1';
let account: { name: string; uid: number } | null = null;
let whyNot = '';

beforeAll(() => {
  if (!isRoot) {
    whyNot = 'not root: a job can only be started as another account by root';
    console.warn(`SKIPPED job-user tests: ${whyNot}`);
    return;
  }
  const name = `cairnjob${process.pid % 100000}`;
  const made = spawnSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', name], {
    encoding: 'utf8',
  });
  if (made.status !== 0 && !/already exists/.test(made.stderr)) {
    whyNot = `useradd failed: ${made.stderr || made.error?.message}`;
    if (required) throw new Error(`root, but ${whyNot}`);
    console.warn(`SKIPPED job-user tests: ${whyNot}`);
    return;
  }
  account = { name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()) };
});

const teams: Team[] = [];
afterAll(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
  // Its processes first (a failed test may have left one), then the account.
  if (account) {
    spawnSync('pkill', ['-KILL', '-U', String(account.uid)]);
    spawnSync('userdel', [account.name]);
  }
});

const as = servicesAs;

/** A spec folder whose job runs `command` (one line of sh) on `backend`. */
function specDir(name: string, backend: 'local' | 'slurm', command: string, extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-jobuser-'));
  writeFileSync(
    join(dir, 'cairn.yaml'),
    [`name: ${name}`, 'project: p', `command: ${JSON.stringify(command)}`, `backend: ${backend}`, ...extra, ''].join(
      '\n',
    ),
  );
  return join(dir, 'cairn.yaml');
}

async function logsOf(t: Team, id: string): Promise<string> {
  const out: Buffer[] = [];
  await as(t, 'alice').runs.logs(id, { write: (c: Buffer) => out.push(c) });
  return Buffer.concat(out).toString();
}

/**
 * The job reports who it is, then tries to read the signing key and the metadata database by
 * their full paths (it cannot list the data dir, but Cairn is open source: it knows the names),
 * and writes an output the server must still version.
 */
async function spyJob(t: Team, backend: 'local' | 'slurm') {
  const cairn = join(t.dataDir, '.cairn');
  const command = [
    'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
    `cat ${join(cairn, PRIVATE_KEY_FILE)} 2>&1 || echo key-unread`,
    `head -c 16 ${join(cairn, 'meta.db')} 2>&1 || echo db-unread`,
    `ls ${cairn} 2>&1 || echo cairn-unlisted`,
    // The job folders are reachable by name only: no listing of other runs, code or inputs.
    ...['runs', 'checkpoints', 'run-code', 'cache', 'cache/versions', 'cache/seals'].map(
      (f) => `ls ${join(t.dataDir, 'jobs', f)} >/dev/null 2>&1 && echo listed-${f.replace('/', '-')}`,
    ),
    'id -u > "$CAIRN_OUTPUT_DIR/uid.txt"',
    // What the server reads back as root (logs, metrics, outputs): swapped for links to the key.
    'rundir=$(dirname "$CAIRN_METRICS_FILE")',
    'rm -f "$rundir/stdout.log" 2>&1 || echo log-kept',
    `ln -sf ${join(cairn, PRIVATE_KEY_FILE)} "$CAIRN_METRICS_FILE" 2>&1 || echo metrics-kept`,
    'echo \'{"name":"loss","value":0.5,"step":1}\' >> "$CAIRN_METRICS_FILE"',
  ].join('; ');
  // An input, so that the input cache holds a materialized version the job must not list.
  const data = mkdtempSync(join(tmpdir(), 'cairn-jobuser-data-'));
  writeFileSync(join(data, 'd.csv'), 'x\n1\n');
  const rt = t.server.runtime;
  await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test' }, () =>
    rt.services.datasets.add({ source: data, name: `spy-data-${backend}` }),
  );
  const alice = as(t, 'alice');
  const spec = specDir(`spy-${backend}`, backend, command, ['inputs:', `  train: spy-data-${backend}@latest`]);
  const r = await alice.runs.submit({ spec });
  const done = await alice.runs.wait(r.run.id, { pollMs: 100 });
  return { done, log: await logsOf(t, r.run.id) };
}

async function expectConfined(t: Team, backend: 'local' | 'slurm') {
  const { uid } = account!;
  const { done, log } = await spyJob(t, backend);
  expect(done.status, log).toBe('completed');
  expect(log).toContain(`uid=${uid} `);
  expect(log).not.toMatch(/groups=.*\b0\b/);
  // EACCES, as the job's own tools report it, for the key and the database; no byte of either.
  // A local job in its own namespaces with this test's data dir under /tmp does not even find
  // them: its private /tmp holds only the jobs dir (docs/SERVER.md "Each job in its own namespaces").
  const refused = backend === 'local' ? '(Permission denied|No such file or directory)' : 'Permission denied';
  expect(log).toMatch(new RegExp(`${PRIVATE_KEY_FILE.replace('/', '\\/')}: ${refused}`));
  expect(log).toMatch(new RegExp(`meta\\.db.*${refused}`));
  expect(log).toContain('key-unread');
  expect(log).toContain('db-unread');
  expect(log).not.toMatch(/listed-/);
  expect(log).not.toContain('PRIVATE KEY');
  expect(log).not.toContain('SQLite format');
  // Its outputs are versioned by the server afterwards, as any run's.
  expect(done.output).toMatch(/^runs\/spy-/);
  const dir = mkdtempSync(join(tmpdir(), 'cairn-jobuser-out-'));
  const rt = t.server.runtime;
  await rt.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
    rt.services.datasets.checkout({ ref: done.output!, dir: join(dir, 'o') }),
  );
  expect(readFileSync(join(dir, 'o', 'uid.txt'), 'utf8').trim()).toBe(String(uid));
  expect(log).toContain('log-kept');
  expect(log).toContain('metrics-kept');
  // The private part of the data dir is still the server's alone.
  expect(statSync(join(t.dataDir, '.cairn')).mode & 0o077).toBe(0);
  expect(statSync(join(t.dataDir, '.cairn', PRIVATE_KEY_FILE)).mode & 0o077).toBe(0);
}

async function jobUserTeam(env: NodeJS.ProcessEnv = process.env): Promise<Team> {
  const t = await startTeam({ env, jobUser: account!.name });
  teams.push(t);
  return t;
}

describe('--job-user: jobs run as their own OS account', () => {
  it('local backend: the job is that account, cannot read the signing key or the database, and its outputs are versioned', async (ctx) => {
    if (!account) return ctx.skip();
    await expectConfined(await jobUserTeam(), 'local');
  }, 120_000);

  it('local backend: an output that is a link to the signing key fails the run; the key is versioned nowhere', async (ctx) => {
    if (!account) return ctx.skip();
    const t = await jobUserTeam();
    const key = join(t.dataDir, '.cairn', PRIVATE_KEY_FILE);
    const alice = as(t, 'alice');
    const r = await alice.runs.submit({
      spec: specDir('leak', 'local', `echo w > "$CAIRN_OUTPUT_DIR/model.bin"; ln -s ${key} "$CAIRN_OUTPUT_DIR/leak"`),
    });
    // Before, the server (reading as root) threw PATH_UNSAFE at every look and the run never ended.
    const done = await alice.runs.wait(r.run.id, { pollMs: 100 });
    expect(done.status).toBe('failed');
    expect(JSON.stringify(await alice.runs.why(r.run.id))).toContain('points outside');
    expect(done.output).toBeNull();
  }, 120_000);

  it('local backend: cancel and the time limit still stop a job of another account, and nothing of it is left', async (ctx) => {
    if (!account) return ctx.skip();
    const t = await jobUserTeam();
    const alice = as(t, 'alice');
    // It traps SIGTERM and keeps running: only the supervisor's SIGKILL after the grace ends it.
    const stubborn = "trap 'echo got-term' TERM; while :; do sleep 0.2; done";
    const a = await alice.runs.submit({
      spec: specDir('cancelled', 'local', stubborn, ['checkpoint: { grace: 1s }']),
    });
    await waitFor(async () => (await alice.runs.show(a.run.id)).status === 'running');
    await alice.runs.cancel(a.run.id, { wait: true });
    expect((await alice.runs.wait(a.run.id, { pollMs: 100 })).status).toBe('cancelled');
    const b = await alice.runs.submit({
      spec: specDir('timed-out', 'local', stubborn, ['resources: { time: 2s }', 'checkpoint: { grace: 1s }']),
    });
    expect((await alice.runs.wait(b.run.id, { pollMs: 100 })).status).toBe('timeout');
    expect(await logsOf(t, b.run.id)).toContain('got-term');
    const left = spawnSync('ps', ['-o', 'pid,pgid,stat,etime,args', '-U', String(account!.uid)]).stdout.toString();
    // A zombie has ended (this container's init reaps orphans late); a live process has not.
    const live = left
      .trim()
      .split('\n')
      .slice(1)
      .filter((l) => !/^\s*\d+\s+\d+\s+Z/.test(l));
    expect(live, left).toEqual([]);
  }, 120_000);

  it('Slurm backend (this host as login node): the job runs as that account and is confined the same way', async (ctx) => {
    if (!account) return ctx.skip();
    const f = slurmFacts();
    if (!f) return ctx.skip();
    const release = await shareSlurmCluster(f);
    try {
      const t = await jobUserTeam(slurmEnv(f));
      await expectConfined(t, 'slurm');
      // The job is the account's, not the server's: cancelling it (scancel as root) still works.
      const alice = as(t, 'alice');
      const r = await alice.runs.submit({ spec: specDir('slurm-cancel', 'slurm', 'sleep 300') });
      await waitFor(async () => (await alice.runs.show(r.run.id)).status === 'running', 120_000);
      await alice.runs.cancel(r.run.id, { wait: true });
      expect((await alice.runs.wait(r.run.id, { pollMs: 200 })).status).toBe('cancelled');
    } finally {
      release();
    }
  }, 600_000);

  it('refuses a data dir that the job account could read, and says which parts and how to fix them', async (ctx) => {
    if (!account) return ctx.skip();
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-server-'));
    const first = await startServer({ listen: '127.0.0.1:0', dataDir, env: process.env });
    await first.close();
    chmodSync(join(dataDir, '.cairn'), 0o755);
    const err = await startServer({ listen: '127.0.0.1:0', dataDir, env: process.env, jobUser: account.name }).then(
      (s) => s.close().then(() => null),
      (e: unknown) => e as { code: string; message: string; hint: string },
    );
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain(join(dataDir, '.cairn'));
    expect(err?.hint).toContain('chmod');
  }, 60_000);
});

describe('cairn server start through the real CLI', () => {
  /** Starts the server and returns its --json answer and first lines of text, then stops it. */
  async function started(
    args: string[],
    env: NodeJS.ProcessEnv,
  ): Promise<{ json: any; code: number | null; err: string }> {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-jobuser-cli-'));
    const child = cliSpawn(['server', 'start', '--data-dir', join(cwd, 'd'), '--listen', '127.0.0.1:0', ...args], {
      cwd,
      env,
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const json = await new Promise<any>((resolve) => {
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (args.includes('--json') && out.trim().endsWith('}')) resolve(JSON.parse(out));
        if (!args.includes('--json') && /^jobs: .*$/m.test(out)) resolve(/^jobs: .*$/m.exec(out)![0]);
      });
      child.once('exit', () => resolve(null));
    });
    // One that failed to start exits by itself, with its exit status.
    if (!json?.error) child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) =>
      child.exitCode !== null ? r(child.exitCode) : child.once('exit', r),
    );
    return { json, code, err };
  }

  it('--job-user names the account in its answer; an unknown account stops it with the fix; root without either says jobs are refused', async (ctx) => {
    if (!account) return ctx.skip();
    const withUser = await started(['--job-user', account.name, '--json'], {});
    expect(withUser.json.jobs).toMatchObject({ user: account.name, refused: null, isolation: 'namespaces' });
    const unknown = await started(['--job-user', 'no-such-cairn-account-zq', '--json'], {});
    expect(unknown.json.error.code).toBe('NOT_FOUND');
    expect(JSON.stringify(unknown.json.error)).toContain('useradd');
    expect(unknown.code).toBe(1);
    const refused = await started([], { CAIRN_ALLOW_ROOT_JOBS: '' });
    expect(refused.json).toMatch(/^jobs: REFUSED: .*--job-user/);
  }, 120_000);
});

describe('a server running as root without --job-user', () => {
  it('refuses to run jobs (audited as denied), unless the admin allowed root jobs', async (ctx) => {
    if (!isRoot) return ctx.skip();
    const { CAIRN_ALLOW_ROOT_JOBS: _allowed, ...env } = process.env;
    const t = await startTeam({ env });
    teams.push(t);
    const alice = as(t, 'alice');
    const marker = join(mkdtempSync(join(tmpdir(), 'cairn-rootjob-')), 'ran');
    const err = await alice.runs.submit({ spec: specDir('as-root', 'local', `touch ${marker}`) }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string; hint: string; data: { run: string } },
    );
    // The contributor is told at once, and the admin's fix is named.
    expect(err?.code).toBe('INVALID_INPUT');
    expect(err?.message).toContain('runs as root');
    expect(err?.hint).toContain('--job-user');
    expect((await alice.runs.show(err!.data.run)).status).toBe('refused');
    // Audited as a denied submission.
    const denied = await t.server.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 't' }, () =>
      t.server.runtime.services.audit.events({ action: 'run.submit', outcome: 'denied' }),
    );
    expect(denied.map((e) => e.target)).toContain(`run:${err!.data.run}`);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(marker)).toBe(false);
    const allowed = await startTeam({ env: { ...env, CAIRN_ALLOW_ROOT_JOBS: '1' } });
    teams.push(allowed);
    const ok = await as(allowed, 'alice').runs.submit({ spec: specDir('allowed', 'local', 'id -u') });
    expect((await as(allowed, 'alice').runs.wait(ok.run.id, { pollMs: 100 })).status).toBe('completed');
  }, 120_000);
});

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
