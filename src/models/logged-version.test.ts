// The log is the source of truth for what a model version is (issue 10, item 5): a row
// pointed at another version's files or tree with SQL alone is caught by `model verify`, and
// promote, deploy and release refuse it (STATE_MISMATCH) instead of shipping the wrong bytes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { prepareRun, submitRun, waitRun } from '../test-support/runs.js';
import { canonicalJson } from '../core/canonical-json.js';
import { addVersion } from '../datasets/add.js';
import { leafHashOfText } from '../audit/merkle/index.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import { approve, promote, rollback } from './aliases.js';
import { deployModel } from './deployments/deploy.js';
import { registerModel, resolveModel, verifyModel } from './registry.js';
import { createRelease } from './releases/create.js';
import { deploymentDeps, releaseDeps } from '../app/deploy-config.js';

describe('model versions are checked against the digest their register event logged', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  /** Two versions of `toy` trained by runs (so they can be released), and a signed checkpoint over them. */
  const twoVersions = async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    writeTree(join(root, 'data'), { 'd.csv': 'x,y\n1,0\n' });
    await addVersion(ws, { source: join(root, 'data'), name: 'toy' });
    for (const lr of ['0.1', '0.2']) {
      writeFileSync(
        join(root, 'cairn.yaml'),
        `name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights-{params.lr} > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\nparams:\n  lr: ${lr}\n`,
      );
      const run = await waitRun(ws, (await submitRun(ws, await prepareRun(ws, join(root, 'cairn.yaml')))).run.id, {
        pollMs: 50,
      });
      expect(run.status).toBe('completed');
      await registerModel(ws, { name: 'toy', fromRun: run.id });
    }
    await ws.audit.checkpoint();
    const v1 = (await resolveModel(ws, 'toy@v1')).version;
    const v2 = (await resolveModel(ws, 'toy@v2')).version;
    return { root, ws, v1, v2 };
  };

  it('an untouched version verifies against its logged digest, and names the event', async () => {
    const { ws, v2 } = await twoVersions();
    const r = await verifyModel(ws, 'toy@v2');
    expect(r).toMatchObject({ ok: true, digest: `sha256:${v2.digest}`, stateProblems: [], problems: [] });
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['idx'])
      .where('action', '=', 'model.register')
      .orderBy('idx', 'desc')
      .executeTakeFirstOrThrow();
    expect(r.registeredAt).toBe(Number(ev.idx));
  });

  it("a version pointed at another version's files: verify names it, promote, deploy and release refuse", async () => {
    const { root, ws, v1, v2 } = await twoVersions();
    await ws.meta.db
      .updateTable('model_versions')
      .set({ files_version_id: v1.files_version_id })
      .where('id', '=', v2.id)
      .execute();
    const r = await verifyModel(ws, 'toy@v2');
    expect(r.ok).toBe(false);
    // The bytes checked are the registered ones (they are intact); the row is what is wrong.
    expect(r.problems).toEqual([]);
    expect(r.digest).toBe(`sha256:${v2.digest}`);
    expect(r.stateProblems.join('\n')).toMatch(
      /points at the files sha256:[0-9a-f]{12}…, not the sha256:[0-9a-f]{12}… entry \d+ \(model.register\) recorded/,
    );
    await expect(promote(ws, 'toy@v2', 'staging', 'set')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
    await expect(createRelease(releaseDeps(ws), 'toy@v2', join(root, 'release'))).rejects.toMatchObject({
      code: 'STATE_MISMATCH',
    });
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({ environments: { staging: { hook: { command: 'true' } } } }),
    );
    await expect(deployModel(deploymentDeps(ws), 'toy@v2', 'staging')).rejects.toMatchObject({
      code: 'STATE_MISMATCH',
    });
    expect(await ws.meta.db.selectFrom('model_aliases').selectAll().execute()).toEqual([]);
    expect(await ws.meta.db.selectFrom('deployments').selectAll().execute()).toEqual([]);
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'outcome', 'entry'])
      .where('action', 'in', ['model.verify', 'model.deploy', 'model.release'])
      .orderBy('idx')
      .execute();
    expect(events.map((e) => [e.action, e.outcome])).toEqual([
      ['model.verify', 'failed'],
      ['model.verify', 'failed'],
      ['model.verify', 'failed'],
      ['model.deploy', 'failed'],
    ]);
    expect(JSON.parse(events[0]!.entry)).toMatchObject({
      reason: 'STATE_MISMATCH: A metadata row differs from what the audit log recorded for it.',
    });
    // v1, untouched, still goes.
    expect((await promote(ws, 'toy@v1', 'staging', 'set')).ref).toBe('toy@v1');
  });

  it("a version whose digest and files were both swapped for another version's is refused too", async () => {
    const { ws, v1, v2 } = await twoVersions();
    await ws.meta.db
      .updateTable('model_versions')
      .set({ files_version_id: v1.files_version_id, digest: v1.digest })
      .where('id', '=', v2.id)
      .execute();
    const r = await verifyModel(ws, 'toy@v2');
    expect(r.ok).toBe(false);
    expect(r.digest).toBe(`sha256:${v2.digest}`);
    expect(r.stateProblems.join('\n')).toContain('its row says sha256:');
    await expect(promote(ws, 'toy@v2', 'production', 'set')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
  });

  it('a version no event vouches for, or whose event was edited, is refused', async () => {
    const { ws, v2 } = await twoVersions();
    // The register event's recorded digest edited in place (its stored leaf hash recomputed).
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['idx', 'entry'])
      .where('action', '=', 'model.register')
      .orderBy('idx', 'desc')
      .executeTakeFirstOrThrow();
    const e = JSON.parse(ev.entry) as { target: { digest: string } };
    e.target.digest = `sha256:${'0'.repeat(64)}`;
    const forged = canonicalJson(e);
    await ws.meta.db
      .updateTable('audit_events')
      .set({ entry: forged, leaf_hash: leafHashOfText(forged).toString('hex') })
      .where('idx', '=', ev.idx)
      .execute();
    const r = await verifyModel(ws, 'toy@v2');
    expect(r.ok).toBe(false);
    expect(r.stateProblems.join('\n')).toMatch(
      /^no model.register event in the audit log vouches for toy@v2, and entry \d+ is not in the log's latest signed checkpoint/,
    );
    await expect(promote(ws, 'toy@v2', 'staging', 'set')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
    // A version row inserted by hand has no event at all.
    await ws.meta.db
      .insertInto('model_versions')
      .values({ ...v2, id: 'forged', number: 3 })
      .execute();
    const f = await verifyModel(ws, 'toy@v3');
    expect(f.stateProblems[0]).toMatch(/^no model.register event in the audit log vouches for toy@v3/);
    await expect(promote(ws, 'toy@v3', 'staging', 'set')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
  });

  it('approve refuses a version whose author was changed with SQL; rollback refuses to put back a forged version', async () => {
    const { ws, v1, v2 } = await twoVersions();
    // Bob approves; the row is then rewritten to say bob registered v2, which would also make his
    // approval look like a self-approval, or (the other way round) hide who really trained it.
    await ws.meta.db
      .updateTable('model_versions')
      .set({ created_by: 'mallory@example.com' })
      .where('id', '=', v2.id)
      .execute();
    await expect(approve(ws, 'toy@v2', 'production')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
    expect(await ws.meta.db.selectFrom('model_approvals').selectAll().execute()).toEqual([]);
    await ws.meta.db.updateTable('model_versions').set({ created_by: v2.created_by }).where('id', '=', v2.id).execute();
    // staging: v1, then v2; then v1's row is pointed at v2's files: rolling back to it is refused.
    await promote(ws, 'toy@v1', 'staging', 'set');
    await promote(ws, 'toy@v2', 'staging', 'set');
    await ws.meta.db
      .updateTable('model_versions')
      .set({ files_version_id: v2.files_version_id })
      .where('id', '=', v1.id)
      .execute();
    await expect(rollback(ws, 'toy', 'staging')).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
    const alias = await ws.meta.db.selectFrom('model_aliases').select('version_id').executeTakeFirstOrThrow();
    expect(alias.version_id).toBe(v2.id);
  });
});
