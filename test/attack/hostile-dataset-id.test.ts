/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { candidateState } from '../../src/app/server-state.js';
import { withServices } from '../../src/app/services.js';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { newWorkspace, writeTree } from '../../src/test-support/workspace.js';
import { emptyState, type RemoteState } from '../../src/transfer/index.js';

/**
 * mallory knows the id of alice's dataset `prod` (every state she pulls lists it). Her own log
 * vouches for `x2@v2`; her state files that version under `prod`'s id, naming the dataset `x2`.
 * Versions are filed by dataset id, so a pull (or a team server's import of her push) took it as
 * `prod@v2` — the latest of alice's dataset, what `prod@latest` and every run on it would read.
 * Before the fix, alice's pull of mallory's remote did exactly that. (A teammate may add `prod@v2`
 * in the open: her log then says `prod`. Here every record — her log, the importing pull's event —
 * says `x2` changed while `prod` did; the server's own `audit verify` then failed on the row.)
 */
const env = (actor: string) => ({ ...process.env, CAIRN_ACTOR: actor, CAIRN_SERVER: '', CAIRN_WORKSPACE: '' });
const as =
  (dir: string, actor: string) =>
  <T>(fn: (s: any) => Promise<T>) =>
    withServices({ cwd: dir, env: env(actor) }, fn);
const ws = { alice: '', mallory: '', remote: '', prodId: '' };

async function workspace(actor: string, datasets: Array<[string, string]>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `cairn-dsid-${actor}-`));
  await (await newWorkspace(dir, { actor })).close();
  for (const [name, text] of datasets) {
    const src = mkdtempSync(join(tmpdir(), 'cairn-dsid-src-'));
    writeTree(src, { 'd.csv': text });
    await as(dir, actor)((s) => s.datasets.add({ source: src, name }));
  }
  return dir;
}

beforeAll(async () => {
  ws.alice = await workspace('alice', [['prod', 'x\n1\n']]);
  const a = rawSqlite(ws.alice);
  ws.prodId = (await a.all<{ id: string }>("select id from datasets where name = 'prod'"))[0]!.id;
  await a.close();
  // mallory: x2@v1 and x2@v2 made and logged honestly, then her rows rewritten: x2 under prod's id, v2 alone.
  ws.mallory = await workspace('mallory', [
    ['x2', 'x\nPOISON1\n'],
    ['x2', 'x\nPOISON2\n'],
  ]);
  const m = rawSqlite(ws.mallory);
  const [x2] = await m.all<{ id: string }>("select id from datasets where name = 'x2'");
  await m.run('PRAGMA foreign_keys = OFF');
  await m.run('update datasets set id = ? where id = ?', [ws.prodId, x2!.id]);
  await m.run('update dataset_versions set dataset_id = ? where dataset_id = ?', [ws.prodId, x2!.id]);
  await m.run('delete from dataset_versions where number = 1');
  await m.run('update dataset_versions set parent_id = null where number = 2');
  await m.close();
  ws.remote = mkdtempSync(join(tmpdir(), 'cairn-dsid-remote-'));
  await as(
    ws.mallory,
    'mallory',
  )(async (s) => {
    await s.transfer.addRemote('shared', `file://${ws.remote}`, {});
    await s.transfer.push([], { remote: 'shared' });
  });
}, 60_000);

describe("a remote that files its version under another dataset's id", () => {
  it("is refused at alice's pull (DIVERGED), and her prod keeps its one version", async () => {
    const alice = as(ws.alice, 'alice');
    await alice((s) => s.transfer.addRemote('shared', `file://${ws.remote}`, {}));
    await expect(alice((s) => s.transfer.pull([], { remote: 'shared' }))).rejects.toMatchObject({
      code: 'DIVERGED',
      message: expect.stringContaining('dataset x2'),
    });
    const log: any[] = await alice((s) => s.datasets.log('prod'));
    expect(log.map((v) => v.ref)).toEqual(['prod@v1']);
    expect((await alice<any>((s) => s.audit.verify({}))).ok).toBe(true);
  });

  it("is refused by a team server's gate for proposals too, as is a model id under another name", () => {
    const T = '2026-01-01T00:00:00.000Z';
    const server: RemoteState = {
      ...emptyState(),
      datasets: [{ id: ws.prodId, name: 'prod', created_at: T, created_by: 'alice' } as never],
      models: [{ id: 'm-1', name: 'spam', created_at: T, created_by: 'alice' } as never],
    };
    const renamed = (k: 'datasets' | 'models', name: string) => ({
      ...emptyState(),
      [k]: [{ ...(server[k][0] as object), name, created_by: 'mallory' }],
    });
    for (const [k, name] of [
      ['datasets', 'x2'],
      ['models', 'ham'],
    ] as const)
      expect(() => candidateState(server, renamed(k, name) as RemoteState, () => true)).toThrow(
        expect.objectContaining({ code: 'DIVERGED' }),
      );
    // The same dataset under its own name is no conflict.
    expect(() => candidateState(server, { ...emptyState(), datasets: server.datasets }, () => true)).not.toThrow();
  });
});
