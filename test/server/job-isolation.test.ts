// With one shared `--job-user`, every job was the same account in the same /tmp, /dev/shm and
// process list: a job read what the previous job left in /tmp; a process that cleared its
// environment (so no CAIRN_JOB_MARK) and left its group with setsid outlived its run; and a job
// of one project found another project's running job through /proc/<pid>/environ and rewrote its
// outputs before the server versioned them. Each local job now runs in its own PID and mount
// namespaces (docs/SERVER.md "Each job in its own namespaces"). Run as root with a real throwaway
// account, as test/server/job-user.test.ts does; one server for the file.
/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/test-support/cli.js';
import { servicesAs, startTeam, type Team } from './harness.js';

const isRoot = process.getuid?.() === 0;
const required = process.env.CAIRN_REQUIRE_SERVICES === '1';
const tag = `${process.pid % 100000}`;
let account: { name: string; uid: number } | null = null;
let t: Team | undefined;

beforeAll(async () => {
  if (!isRoot) return console.warn('SKIPPED job-isolation: not root, so no job runs as another account');
  const name = `cairniso${tag}`;
  const made = spawnSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', name], {
    encoding: 'utf8',
  });
  if (made.status !== 0 && !/already exists/.test(made.stderr)) {
    if (required) throw new Error(`root, but useradd failed: ${made.stderr}`);
    return console.warn(`SKIPPED job-isolation: useradd failed: ${made.stderr}`);
  }
  account = { name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()) };
  t = await startTeam({ jobUser: name });
  const made2 = await t.call('admin', 'POST', '/api/v1/accounts', {
    name: 'mallory',
    role: 'contributor',
    project: 'default',
  });
  expect(made2.status).toBe(200);
  t.tokens.mallory = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'mallory' })).json.token;
}, 120_000);

afterAll(async () => {
  await t?.close();
  for (const d of ['/tmp', '/dev/shm', '/var/tmp']) rmSync(`${d}/cairn-iso-${tag}`, { force: true });
  if (account) {
    for (const id of segmentsOf(account.uid)) spawnSync('ipcrm', ['-m', id]);
    spawnSync('pkill', ['-KILL', '-U', String(account.uid)]);
    spawnSync('userdel', [account.name]);
  }
});

const submission = (name: string, project: string, command: string) => ({
  spec: [`name: ${name}`, `project: ${project}`, `command: ${JSON.stringify(command)}`, 'backend: local', ''].join(
    '\n',
  ),
  specName: 'cairn.yaml',
  files: {},
  backend: 'local',
});

async function submit(who: string, name: string, project: string, command: string): Promise<string> {
  const r = await t!.call(who, 'POST', '/api/v1/runs', submission(name, project, command));
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.run.id;
}

const waitRun = (who: string, id: string): Promise<any> => servicesAs(t!, who).runs.wait(id, { pollMs: 100 });

/** A completed run's output version, checked out: its folder. */
async function outputOf(done: any): Promise<string> {
  expect(done.status, JSON.stringify(done)).toBe('completed');
  const dir = join(mkdtempSync(join(tmpdir(), 'cairn-iso-')), 'o');
  const rt = t!.server.runtime;
  await rt.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
    rt.services.datasets.checkout({ ref: done.output, dir }),
  );
  return dir;
}

/** The ids of the System V shared memory segments `uid` holds on the host (/proc/sysvipc/shm: key, id, …, uid at 8th). */
function segmentsOf(uid: number): string[] {
  return readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[7] === String(uid))
    .map((f) => f[1]!);
}

/** Live processes of `uid` whose command line is exactly `argv`. */
function processesOf(uid: number, argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const st = readFileSync(`/proc/${p}/stat`, 'utf8');
        return (
          statSync(`/proc/${p}`).uid === uid &&
          !/^[ZX]/.test(st.slice(st.lastIndexOf(')') + 2)) &&
          readFileSync(`/proc/${p}/cmdline`, 'utf8') === want
        );
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

describe('one shared --job-user: each local job in its own namespaces', () => {
  it('the server says at start that its jobs run in their own namespaces here', (ctx) => {
    if (!t) return ctx.skip();
    expect(t.server.runtime.jobs.isolation).toEqual({ namespaces: true });
  });

  it('a server whose kernel refuses namespaces (no CAP_SYS_ADMIN) starts, and says so in its --json answer', async (ctx) => {
    if (!t) return ctx.skip();
    const dataDir = join(mkdtempSync(join(tmpdir(), 'cairn-iso-nocap-')), 'd');
    const args = ['--bounding-set=-sys_admin', process.execPath, CLI, 'server', 'start', '--data-dir', dataDir];
    const child = spawn('setpriv', [...args, '--listen', '127.0.0.1:0', '--job-user', account!.name, '--json'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const json = await new Promise<any>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.trim().endsWith('}')) resolve(JSON.parse(out));
      });
      child.once('exit', () => resolve(null));
    });
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    expect(json?.jobs, out).toMatchObject({ user: account!.name, isolation: 'none' });
    expect(json.jobs.isolationReason).toMatch(/not permitted/i);
  }, 60_000);

  it("what a job leaves in /tmp, /var/tmp and /dev/shm is gone for the account's next job, and never on the host", async (ctx) => {
    if (!t) return ctx.skip();
    const files = ['/tmp', '/dev/shm', '/var/tmp'].map((d) => `${d}/cairn-iso-${tag}`);
    // And a System V shared memory segment, which outlives its process until removed.
    const leave = [...files.map((f) => `echo secret > ${f}`), 'ipcmk -M 4096'].join('; ');
    const first = await submit('alice', 'leaver', 'default', leave);
    expect((await waitRun('alice', first)).status).toBe('completed');
    const look = `cat ${files.join(' ')} > "$CAIRN_OUTPUT_DIR/seen" 2>&1; ls /tmp >> "$CAIRN_OUTPUT_DIR/seen"; true`;
    const second = await submit('alice', 'finder', 'default', look);
    const seen = readFileSync(join(await outputOf(await waitRun('alice', second)), 'seen'), 'utf8');
    expect(seen).not.toContain('secret');
    for (const f of files) expect(existsSync(f), f).toBe(false);
    expect(segmentsOf(account!.uid)).toEqual([]);
  }, 120_000);

  it('a process that cleared its environment and left with setsid ends with its run', async (ctx) => {
    if (!t) return ctx.skip();
    const secs = String(3000 + (process.pid % 1000));
    // No CAIRN_JOB_MARK, its own session: neither the group signal nor the mark finds it.
    const id = await submit(
      'alice',
      'escaper',
      'default',
      `env -i setsid sleep ${secs} </dev/null >/dev/null 2>&1 & echo x > "$CAIRN_OUTPUT_DIR/x"`,
    );
    await outputOf(await waitRun('alice', id));
    expect(processesOf(account!.uid, ['sleep', secs])).toEqual([]);
  }, 120_000);

  it('what the shell left running still gets SIGTERM and the grace period before the namespace ends', async (ctx) => {
    if (!t) return ctx.skip();
    const id = await submit(
      'alice',
      'graceful',
      'default',
      `(trap 'echo bye > "$CAIRN_OUTPUT_DIR/bye"; exit 0' TERM; while :; do sleep 0.1; done) & sleep 0.3`,
    );
    expect(readFileSync(join(await outputOf(await waitRun('alice', id)), 'bye'), 'utf8')).toBe('bye\n');
  }, 120_000);

  it("a job of one project cannot find or rewrite another project's running job's outputs", async (ctx) => {
    if (!t) return ctx.skip();
    // alice's job in project `secret`: writes its model, then works a while longer.
    const victim = await submit('alice', 'victim', 'secret', 'echo good > "$CAIRN_OUTPUT_DIR/model.bin"; sleep 5');
    // mallory's job (contributor on `default` only, same OS account) looks for other jobs in
    // /proc, and is even told the victim's output folder (a run id is no secret to its viewers).
    const theirs = join(t.dataDir, 'jobs', 'runs', victim, 'out');
    const spy = [
      'for i in 1 2 3 4 5 6 7 8; do',
      '  for e in /proc/[0-9]*/environ; do',
      '    d=$(tr "\\0" "\\n" < $e 2>/dev/null | sed -n "s/^CAIRN_OUTPUT_DIR=//p")',
      '    [ -n "$d" ] && [ "$d" != "$CAIRN_OUTPUT_DIR" ] && echo "found $d" >> "$CAIRN_OUTPUT_DIR/log"',
      '  done',
      `  echo evil > ${theirs}/model.bin 2>/dev/null && echo tampered >> "$CAIRN_OUTPUT_DIR/log"`,
      `  echo hi > ${theirs}/backdoor.txt 2>/dev/null`,
      '  sleep 0.3',
      'done; ls /proc | grep -c "^[0-9]" > "$CAIRN_OUTPUT_DIR/procs"',
    ].join('\n');
    const attacker = await submit('mallory', 'spy', 'default', spy);
    const [done, spied] = [await waitRun('alice', victim), await waitRun('mallory', attacker)];
    const dir = await outputOf(done);
    expect(readFileSync(join(dir, 'model.bin'), 'utf8')).toBe('good\n');
    expect(existsSync(join(dir, 'backdoor.txt'))).toBe(false);
    const spyOut = await outputOf(spied);
    expect(existsSync(join(spyOut, 'log')) ? readFileSync(join(spyOut, 'log'), 'utf8') : '').toBe('');
    // Its init, its shell, ls and grep: none of the victim's.
    expect(Number(readFileSync(join(spyOut, 'procs'), 'utf8'))).toBeLessThanOrEqual(4);
  }, 120_000);
});
