import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeps } from '../../app/compute.js';
import type { Workspace } from '../../app/workspace.js';
import { isCairnError } from '../../core/errors.js';
import { mulberry32 } from '../../test-support/prng.js';
import { newWorkspace } from '../../test-support/workspace.js';
import type { JobAccount } from '../backends/port.js';
import { leaseJobAccount, releaseJobAccount } from './job-accounts.js';

/**
 * A pool of job accounts (docs/SERVER.md "One account per running job"): whatever the order of
 * starts, ends and concurrent dispatchers, no account is held by two unended runs, a run keeps
 * the account it holds, and a run is told to wait (LOCKED) only while every account is held.
 * The accounts are uids nobody has: taking one kills the processes of none.
 */
describe('job account leases', () => {
  // One workspace for every seed: its own folder, removed after it is closed.
  const root = mkdtempSync(join(tmpdir(), 'cairn-leases-'));
  let ws: Workspace & ReturnType<typeof runDeps>;
  beforeAll(async () => {
    ws = runDeps(await newWorkspace(root, { actor: 'alice@example.com' }));
  });
  afterAll(async () => {
    await ws?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const account = (i: number): JobAccount => ({ name: `pool-${i}`, uid: 3_900_000 + i, gid: 3_900_000 + i, home: '/' });
  let n = 0;
  async function newRun(status = 'queued'): Promise<string> {
    const id = `run-${++n}`;
    await ws.meta.db
      .insertInto('runs')
      .values({
        ...{ id, run_key: id, name: id, project: 'p', spec_digest: 'd', spec: '{}', backend: 'local' },
        ...{ backend_id: null, status, reason: null, exit_code: null, priority: 0, gpus: 0, cpus: 1 },
        ...{ memory_mb: 0, time_limit_s: 0, created_at: '2026-01-01T00:00:00Z', created_by: 'a', started_at: null },
        ...{ ended_at: null, restarts: 0, code_commit: null, code_dirty: null, env_digest: null, dir: '/x' },
        ...{ output_version_id: null, reused_from: null, usage: '{}', human_name: null, note: null },
      })
      .execute();
    return id;
  }
  const setStatus = (id: string, status: string) =>
    ws.meta.db.updateTable('runs').set({ status }).where('id', '=', id).execute();
  const lease = (id: string, pool: JobAccount[]) =>
    leaseJobAccount(ws, id, pool).catch((e: unknown) => {
      if (isCairnError(e, 'LOCKED')) return 'wait' as const;
      throw e;
    });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: a held account is never leased to a second running job`, async () => {
      const rnd = mulberry32(seed);
      const pool = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => account(seed * 10 + i));
      const holds = new Map<string, string>(); // unended run -> account
      for (let step = 0; step < 25; step++) {
        const r = rnd();
        if (r < 0.2 && holds.size) {
          const [id] = [...holds.keys()][Math.floor(rnd() * holds.size)]!;
          await setStatus(id!, rnd() < 0.5 ? 'completed' : 'cancelled');
          holds.delete(id!);
        } else if (r < 0.3 && holds.size) {
          // A run that holds one asks again (another dispatcher took its claim over): the same one.
          const [id, name] = [...holds.entries()][0]!;
          expect((await leaseJobAccount(ws, id, pool)).name).toBe(name);
        } else if (r < 0.4 && holds.size) {
          // A start that failed gives the account back without the run ending.
          const [id] = [...holds.keys()];
          await releaseJobAccount(ws, id!);
          holds.delete(id!);
          await setStatus(id!, 'queued');
        } else {
          // Two dispatchers (server processes) start two runs at once.
          const ids = [await newRun(), await newRun()];
          const got = await Promise.all(ids.map((id) => lease(id, pool)));
          const free = pool.length - holds.size;
          got.forEach((g, i) => {
            if (g !== 'wait') holds.set(ids[i]!, g.name);
          });
          expect(got.filter((g) => g !== 'wait').length).toBe(Math.min(2, free));
        }
        const names = [...holds.values()];
        expect(new Set(names).size, `step ${step}: ${JSON.stringify([...holds])}`).toBe(names.length);
      }
      for (const id of holds.keys()) await setStatus(id, 'completed');
    });
  }
});
