/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// Only finished runs travel (docs/REMOTES.md "Runs"). A laptop's owner holds her log's key, so
// she can log any end she likes: here mallory ends her own run with a `run.fail` whose state is
// `queued` (or `running`), sets her row to match, lists it in the store's state and asks the
// server to import. The server checked the row's status only against her own event and took the
// run in as queued or running: a state only the server's own dispatcher and sync may set. It sat
// in the team's queue as waiting, without a run.submit of the server's or any of its checks, and a
// running one's job id is whatever the row says, which the server's sync polls and `run cancel`
// signals (another run's local job has the id of that run).
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { reopen, writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team, storeObject } from '../server/harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

const raw = storeObject;

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('attack: a pushed run whose logged end is not an end', () => {
  for (const status of ['queued', 'running'] as const)
    it(`a run logged as ended '${status}' is refused at push and never reaches the server's queue`, async () => {
      const t = await startTeam({
        store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`,
        roles: { admin: 'admin', mallory: 'contributor' },
      });
      teams.push(t);
      const { dir, run } = await newLaptop(t, 'mallory', 'cairn-active');
      writeTree(join(dir, 'data'), { 'd.csv': 'x\n1\n' });
      await run((s) => s.datasets.add({ source: join(dir, 'data'), name: 'toy' }));
      const marker = join(dir, 'ran-on-server');
      writeFileSync(
        join(dir, 'cairn.yaml'),
        `name: sneaky\ncommand: "sleep 300; echo ran > ${marker}"\ninputs:\n  train: toy@v1\nresources:\n  time: 10m\n`,
      );
      const sub: any = await run((s) => s.runs.submit({ spec: join(dir, 'cairn.yaml') }));
      const id: string = sub.run.id;
      // Her own log, her own key: an end event that says the run is still waiting.
      const ws = await reopen(dir, 'mallory@laptop');
      await ws.audit.record(
        {
          action: 'run.fail',
          target: { type: 'run', name: id },
          params: { state: status, exitCode: null, reason: 'held' },
        },
        'failed',
        'held for later',
      );
      await ws.close();
      // Her job is stopped (its supervisor writes the exit; her database is not told), the row matches the event.
      const local = join(dir, '.cairn', 'compute', 'local');
      await waitFor(() => existsSync(join(local, `${id}.pid`)));
      process.kill(Number(readFileSync(join(local, `${id}.pid`), 'utf8')), 'SIGTERM');
      await waitFor(() => existsSync(join(local, `${id}.exit.json`)));
      const db = rawSqlite(dir);
      await db.run(
        `UPDATE runs SET status = ?, backend_id = NULL, started_at = NULL, ended_at = NULL, exit_code = NULL WHERE id = ?`,
        [status, id],
      );
      const [row] = await db.all<any>(`SELECT * FROM runs WHERE id = ?`, [id]);
      await db.close();
      // An honest push carries finished runs only; hers carries her log (with the event) and her dataset.
      const pushed: any = await run((s) => s.transfer.push([], { remote: 'team' }));
      expect(pushed.server.imported.versions).toBe(1);
      // Then she lists the run in the store's state herself and asks the server to import it.
      const { dir: _d, metrics_offset: _o, ...travelling } = row;
      const state = (await raw(t, 'mallory', 'GET', 'meta/state.json')).json;
      const put = await raw(t, 'mallory', 'PUT', 'meta/state.json', {
        ...state,
        runs: [...state.runs, { ...travelling, params: [], metrics: [] }],
      });
      expect(put.status, JSON.stringify(put.json)).toBe(200);
      const imp = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
      expect(imp.status, JSON.stringify(imp.json)).toBe(200);
      expect(imp.json.skippedRuns, JSON.stringify(imp.json)).toMatchObject([
        { run: id, why: expect.stringMatching(/ended/) },
      ]);
      expect((await t.call('admin', 'GET', `/api/v1/runs/${id}`)).status).toBe(404);
      // The server's dispatcher looks at its queue (every run listing syncs): nothing of hers starts there.
      expect((await t.call('admin', 'GET', '/api/v1/runs/find')).status).toBe(200);
      const jobs = (readdirSync(t.dataDir, { recursive: true }) as string[]).filter((f) =>
        f.endsWith(`${id}.job.json`),
      );
      expect(jobs, 'a job of hers started on the server').toEqual([]);
    }, 180_000);
});
