// Issue 11: runs submitted through the team server go to the server's backends — here Slurm,
// the server host acting as the login node — and quotas and budgets are the team's: one ledger,
// checked before admission, whoever submits.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { createRemoteServices } from '../../src/app/remote/services.js';
import { shareSlurmCluster, slurmEnv, slurmFacts, type SlurmFacts } from '../../src/test-support/slurm.js';
import { startTeam, type Team } from './harness.js';

describe('team compute: Slurm behind the server, one budget for everyone', () => {
  let t: Team | undefined;
  let f: SlurmFacts | null = null;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    f = slurmFacts();
    if (!f) return;
    release = await shareSlurmCluster(f);
    t = await startTeam({ env: slurmEnv(f) });
    const dir = mkdtempSync(join(tmpdir(), 'cairn-in-'));
    writeFileSync(join(dir, 'd.csv'), 'x,y\n1,0\n2,1\n');
    const rt = t.server.runtime;
    await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'setup' }, () =>
      rt.services.datasets.add({ source: dir, name: 'toy' }),
    );
  }, 900_000);
  afterAll(async () => {
    await t?.close();
    release?.();
  });
  const as = (user: string) =>
    createRemoteServices(new ApiClient({ url: t!.server.url, token: t!.tokens[user]! }), {
      url: t!.server.url,
      token: t!.tokens[user]!,
      user,
      verifierKey: t!.server.runtime.verifierKey,
      origin: t!.server.runtime.origin,
      seen: null,
    });
  const spec = (name: string, command: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-proj-'));
    writeFileSync(
      join(dir, 'cairn.yaml'),
      [
        `name: ${name}`,
        'project: vision',
        `command: ${JSON.stringify(command)}`,
        'inputs:',
        '  train: toy@v1',
        'resources: { gpus: 1, time: 1h }',
        'backend: slurm',
        '',
      ].join('\n'),
    );
    return join(dir, 'cairn.yaml');
  };

  it(
    "alice's run lands on Slurm; bob's run that would pass the team's budget is refused before it starts",
    { timeout: 600_000 },
    async (ctx) => {
      if (!f || !t) return ctx.skip();
      // Only an admin sets the ledger; 1.5 GPU-hours a month for the whole team.
      await expect(as('alice').computeUsage.setProject('vision', { budgetGpuHours: 1.5 })).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
      });
      await as('admin').computeUsage.setProject('vision', { budgetGpuHours: 1.5, period: 'month' });

      const alice = as('alice');
      const first = await alice.runs.submit({
        spec: spec(
          'on-slurm',
          'echo "node=$SLURMD_NODENAME job=$SLURM_JOB_ID gpus=$CUDA_VISIBLE_DEVICES"; echo ok > "$CAIRN_OUTPUT_DIR/r.txt"',
        ),
      });
      expect(first.outcome).not.toBe('reused');
      // Committed: alice's run holds 1 GPU × 1 h of the 1.5 until it ends. Bob's asks for
      // another 1 GPU-hour: 2 > 1.5, refused whoever asks — the budget is not per person.
      const bob = as('bob');
      await expect(bob.runs.submit({ spec: spec('second', 'echo never') })).rejects.toMatchObject({
        code: 'BUDGET_EXCEEDED',
      });

      const done = await alice.runs.wait(first.run.id, { pollMs: 250 });
      expect([done.status, done.backend]).toEqual(['completed', 'slurm']);
      const out: Buffer[] = [];
      await alice.runs.logs(first.run.id, { write: (c) => out.push(c) });
      expect(Buffer.concat(out).toString()).toMatch(new RegExp(`node=${f.node} job=\\d+`));

      const submits = (await bob.audit.events({ action: 'run.submit' })) as Array<{ actor: string; outcome: string }>;
      expect(submits).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ actor: 'alice', outcome: 'ok' }),
          expect.objectContaining({ actor: 'bob', outcome: 'denied' }),
        ]),
      );
      // One ledger: the team's usage names both people under the same project.
      const usage = (await bob.computeUsage.usage({ by: 'user' })) as { rows: Array<{ key: string; runs: number }> };
      expect(usage.rows.find((r) => r.key === 'alice')?.runs).toBeGreaterThanOrEqual(1);
      const verify = await bob.audit.verify({});
      expect(verify.ok).toBe(true);
    },
  );
});
