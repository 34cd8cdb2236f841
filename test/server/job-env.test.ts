// A run submitted through a team server is started by the server's backends: on the server path
// its job must not inherit the server's environment (database URL and password, store keys,
// OIDC secret, CAIRN_… settings). It gets an allowlisted base, Cairn's job variables and the
// variables its spec declares (docs/SERVER.md "Jobs do not see the server's environment").
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { shareSlurmCluster, slurmEnv, slurmFacts } from '../../src/test-support/slurm.js';
import { servicesAs, startTeam, type Team } from './harness.js';

const SECRETS: Record<string, string> = {
  AWS_SECRET_ACCESS_KEY: 'fake-aws-secret-zq81',
  AWS_ACCESS_KEY_ID: 'AKIAFAKEZQ81',
  PGPASSWORD: 'fake-pg-password-zq81',
  DATABASE_URL: 'postgres://cairn:fake-db-password-zq81@db.internal/cairn',
  CAIRN_OIDC_CLIENT_SECRET: 'fake-oidc-secret-zq81',
  CAIRN_SERVER_SETTING: 'fake-server-setting-zq81',
};

const teams: Team[] = [];
const saved = { ...process.env };
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
  for (const k of Object.keys(SECRETS)) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

const as = servicesAs;

async function dumpEnv(t: Team, backend: 'local' | 'slurm'): Promise<{ status: string; text: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-jobenv-'));
  writeFileSync(
    join(dir, 'cairn.yaml'),
    [
      `name: envdump-${backend}`,
      'project: p',
      'command: "env; test -n \\"$PATH\\" && echo path-ok"',
      'environment:',
      '  vars: { MY_SPEC_VAR: declared-zq81 }',
      `backend: ${backend}`,
      '',
    ].join('\n'),
  );
  const alice = as(t, 'alice');
  const r = await alice.runs.submit({ spec: join(dir, 'cairn.yaml') });
  const done = await alice.runs.wait(r.run.id, { pollMs: 100 });
  const out: Buffer[] = [];
  await alice.runs.logs(r.run.id, { write: (c: Buffer) => out.push(c) });
  return { status: done.status, text: Buffer.concat(out).toString() };
}

function expectNoSecrets({ status, text }: { status: string; text: string }): void {
  expect(status, text).toBe('completed');
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(text, `${name} reached the job`).not.toContain(value);
    expect(text).not.toMatch(new RegExp(`^${name}=`, 'm'));
  }
  expect(text).toContain('MY_SPEC_VAR=declared-zq81');
  expect(text).toMatch(/^CAIRN_RUN_ID=/m);
  expect(text).toContain('path-ok');
}

describe("jobs started by a team server do not get the server's environment", () => {
  it("local backend: a contributor's run that prints `env` sees none of the server's secrets, but its own and Cairn's variables", async () => {
    // The server process holds the secrets (as a real server's environment would).
    Object.assign(process.env, SECRETS);
    const t = await startTeam({ env: { ...process.env } });
    teams.push(t);
    expectNoSecrets(await dumpEnv(t, 'local'));
  }, 120_000);

  it('Slurm backend (the server host as login node): sbatch exports none of them either', async (ctx) => {
    const f = slurmFacts();
    if (!f) return ctx.skip();
    const release = await shareSlurmCluster(f);
    try {
      Object.assign(process.env, SECRETS);
      const t = await startTeam({ env: { ...slurmEnv(f), ...SECRETS } });
      teams.push(t);
      expectNoSecrets(await dumpEnv(t, 'slurm'));
    } finally {
      release();
    }
  }, 600_000);
});
