// Jobs of every project ran as one OS account (`--job-user`). A contributor on one project
// submitted a job that looked for the other jobs running at the same time (their shells were the
// same account's processes: /proc/<pid>/environ named each one's CAIRN_OUTPUT_DIR) and wrote
// into their output folders before the server versioned them: the audit record said the victim's
// run produced the attacker's bytes. With a pool of accounts (`--job-user a,b`) each running job
// holds its own (docs/SERVER.md "One account per running job"): the attacker's job neither reads
// the victim's environment nor enters its 0700 output folder. Run as root with real throwaway
// accounts, as test/server/job-user.test.ts does; one server for the file.
/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesAs, startTeam, type Team } from '../server/harness.js';

const isRoot = process.getuid?.() === 0;
const required = process.env.CAIRN_REQUIRE_SERVICES === '1';
const accounts: Array<{ name: string; uid: number }> = [];
let t: Team | undefined;

beforeAll(async () => {
  if (!isRoot) return console.warn('SKIPPED job-cross-run: not root');
  for (const n of [1, 2]) {
    const name = `cairnx${n}${process.pid % 100000}`;
    const made = spawnSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', name], {
      encoding: 'utf8',
    });
    if (made.status !== 0 && !/already exists/.test(made.stderr)) {
      if (required) throw new Error(`root, but useradd failed: ${made.stderr}`);
      return console.warn(`SKIPPED job-cross-run: useradd failed: ${made.stderr}`);
    }
    accounts.push({ name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()) });
  }
  t = await startTeam({ jobUser: accounts.map((a) => a.name).join(',') });
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
  for (const a of accounts) {
    spawnSync('pkill', ['-KILL', '-U', String(a.uid)]);
    spawnSync('userdel', [a.name]);
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

const waitRun = (who: string, id: string): Promise<any> => servicesAs(t!, who).runs.wait(id, { pollMs: 100 });

/** Checks out a run's output version into a fresh folder: its path. */
async function outputOf(done: any): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'cairn-xrun-')), 'o');
  const rt = t!.server.runtime;
  await rt.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
    rt.services.datasets.checkout({ ref: done.output, dir }),
  );
  return dir;
}

describe('--job-user a,b: one job against another project running at the same time', () => {
  it("a job cannot rewrite another project's running job's outputs before they are versioned", async (ctx) => {
    if (!t) return ctx.skip();
    const t0 = t;
    // alice's job in project `secret`: writes its model, then works a while longer.
    const victim = await t0.call(
      'alice',
      'POST',
      '/api/v1/runs',
      submission('victim', 'secret', 'echo good > "$CAIRN_OUTPUT_DIR/model.bin"; sleep 6'),
    );
    expect(victim.status, JSON.stringify(victim.json)).toBe(200);
    // mallory (contributor on `default` only) finds every other job's output folder and writes into it.
    const spy = [
      'for i in 1 2 3 4 5 6 7 8 9 10; do',
      '  for e in /proc/[0-9]*/environ; do',
      '    d=$(tr "\\0" "\\n" < $e 2>/dev/null | sed -n "s/^CAIRN_OUTPUT_DIR=//p")',
      '    if [ -n "$d" ] && [ "$d" != "$CAIRN_OUTPUT_DIR" ]; then',
      '      echo evil > "$d/model.bin" 2>/dev/null && echo "tampered $d"; echo hi > "$d/backdoor.txt" 2>/dev/null',
      '    fi',
      '  done; sleep 0.3',
      'done; echo done > "$CAIRN_OUTPUT_DIR/x"',
    ].join('\n');
    const attacker = await t0.call('mallory', 'POST', '/api/v1/runs', submission('spy', 'default', spy));
    expect(attacker.status, JSON.stringify(attacker.json)).toBe(200);
    const done = await waitRun('alice', victim.json.run.id);
    await waitRun('mallory', attacker.json.run.id);
    const why = await t0.call('alice', 'GET', `/api/v1/runs/${victim.json.run.id}/why`);
    expect(done.status, JSON.stringify([done, why.json])).toBe('completed');
    const dir = await outputOf(done);
    expect(readFileSync(join(dir, 'model.bin'), 'utf8')).toBe('good\n');
    expect(existsSync(join(dir, 'backdoor.txt'))).toBe(false);
  }, 120_000);

  // A job that leaves a process behind (setsid: out of its process group and session) hands its
  // account on with it dead: the next job on that account finds no process of its account but its
  // own. Alone on the server, both jobs take the pool's first free account: the same one.
  it("a job's leftover background process is gone before its account runs the next job", async (ctx) => {
    if (!t) return ctx.skip();
    const t0 = t;
    const first = await t0.call(
      'alice',
      'POST',
      '/api/v1/runs',
      submission('leaver', 'default', 'setsid sleep 300 </dev/null >/dev/null 2>&1 & id -u > "$CAIRN_OUTPUT_DIR/uid"'),
    );
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    const a = await waitRun('alice', first.json.run.id);
    expect(a.status).toBe('completed');
    // Killed as the run ended, before its outputs were versioned: no `sleep` of the account is left.
    const uid1 = readFileSync(join(await outputOf(a), 'uid'), 'utf8').trim();
    const ps = spawnSync('ps', ['-u', uid1, '-o', 'stat=,comm='], { encoding: 'utf8' }).stdout;
    expect(
      ps.split('\n').filter((l) => /^[^Z]\S*\s+sleep$/.test(l.trim())),
      ps,
    ).toEqual([]);
    // Its folders and logs are the server's again: the account's next job (another run's) cannot touch them.
    for (const f of ['out', 'stdout.log', 'metrics.jsonl']) expect(statSync(join(a.dir, f)).uid, f).toBe(0);
    // A zombie (killed, not yet reaped by whatever reaps orphans here) runs nothing: not counted.
    const look =
      'id -u > "$CAIRN_OUTPUT_DIR/uid"; ps -u "$(id -u)" -o pid=,stat=,comm= | awk \'$2 !~ /^Z/ && $3 == "sleep"\' > "$CAIRN_OUTPUT_DIR/left"; ps -u "$(id -u)" -o pid=,stat=,comm= > "$CAIRN_OUTPUT_DIR/all"';
    const second = await t0.call('alice', 'POST', '/api/v1/runs', submission('next', 'default', look));
    expect(second.status, JSON.stringify(second.json)).toBe(200);
    const b = await waitRun('alice', second.json.run.id);
    expect(b.status).toBe('completed');
    const [da, db] = [await outputOf(a), await outputOf(b)];
    const uid = readFileSync(join(da, 'uid'), 'utf8').trim();
    expect(accounts.map((x) => String(x.uid))).toContain(uid);
    expect(readFileSync(join(db, 'uid'), 'utf8').trim()).toBe(uid);
    expect(readFileSync(join(db, 'left'), 'utf8'), readFileSync(join(db, 'all'), 'utf8')).toBe('');
  }, 120_000);
});
