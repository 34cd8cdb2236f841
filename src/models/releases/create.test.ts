import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { prepareRun, submitRun, waitRun } from '../../test-support/runs.js';
import { addVersion } from '../../datasets/add.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { cloneInto } from '../../transfer/clone.js';
import { push } from '../../transfer/push.js';
import { addRemote } from '../../transfer/remote-admin.js';
import { loadRemotesFile as loadRemotes, transferDeps } from '../../app/transfer-config.js';
import { fetchLocked, lockModel, readLock } from '../lock.js';
import { registerModel } from '../registry.js';
import { createRelease, verifyReleaseBundle } from './create.js';
import { releaseDeps } from '../../app/deploy-config.js';

const deps = (ws: Workspace) => transferDeps(ws);

describe('releases and cairn.lock', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });

  const trainedModel = async () => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    writeTree(join(root, 'data'), { 'd.csv': 'x,y\n1,0\n' });
    await addVersion(ws, { source: join(root, 'data'), name: 'toy' });
    writeFileSync(
      join(root, 'cairn.yaml'),
      'name: toy-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo weights-{params.lr} > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: toy@v1\nparams:\n  lr: 0.1\n',
    );
    const run = await waitRun(ws, (await submitRun(ws, await prepareRun(ws, join(root, 'cairn.yaml')))).run.id, {
      pollMs: 50,
    });
    await registerModel(ws, { name: 'toy', fromRun: run.id });
    return { root, ws, run };
  };

  it('a release bundle verifies offline with the trusted key; a modified model file is named', async () => {
    const { root, ws, run } = await trainedModel();
    const out = join(root, 'release');
    const r = await createRelease(releaseDeps(ws), 'toy@v1', out);
    expect([r.model, r.files, r.proofs]).toEqual(['toy@v1', 1, 1]);
    // Signed with the release key, not the audit key; its creation is in the log before its first use.
    const pem = readFileSync(join(ws.cairnDir, 'keys', 'release.pub'), 'utf8');
    expect(pem).not.toBe(readFileSync(join(ws.cairnDir, 'keys', 'signing.pub'), 'utf8'));
    const ok = await verifyReleaseBundle(out, { trustedPublicKeyPem: pem });
    expect([ok.ok, ok.keyTrusted, ok.problems, ok.omsChecked, ok.omsKeyTrusted]).toEqual([true, true, [], true, true]);
    const keyEvents = await ws.meta.db
      .selectFrom('audit_events')
      .select(['idx', 'action', 'entry'])
      .where('action', 'in', ['keys.create', 'model.release'])
      .orderBy('idx')
      .execute();
    expect(keyEvents.map((e) => e.action)).toEqual(['keys.create', 'model.release']);
    expect(JSON.parse(keyEvents[0]!.entry).params).toMatchObject({ purpose: 'release', keyid: ok.keyid });
    expect(statSync(join(ws.cairnDir, 'keys', 'release.key')).mode & 0o777).toBe(0o600);
    const statement = JSON.parse(
      Buffer.from(JSON.parse(readFileSync(join(out, 'provenance.dsse.json'), 'utf8')).payload, 'base64').toString(),
    ) as { predicate: { runDetails: { metadata: { invocationId: string } } } };
    expect(statement.predicate.runDetails.metadata.invocationId).toBe(run.id);
    writeFileSync(join(out, 'model', 'm', 'model.bin'), 'tampered\n');
    const bad = await verifyReleaseBundle(out, { trustedPublicKeyPem: pem });
    expect(bad.ok).toBe(false);
    expect(bad.problems).toContainEqual(expect.objectContaining({ code: 'file-modified', file: 'model/m/model.bin' }));
    expect(
      (await ws.meta.db.selectFrom('audit_events').select('action').where('action', '=', 'model.release').execute())
        .length,
    ).toBe(1);
    // a tampered store: nothing is released
    const { readdirSync } = await import('node:fs');
    const packs = join(ws.cairnDir, 'objects', 'packs');
    for (const shard of readdirSync(packs)) {
      for (const f of readdirSync(join(packs, shard))) {
        const p = join(packs, shard, f);
        const b = readFileSync(p);
        const at = b.indexOf(Buffer.from('weights-0.1'));
        if (at >= 0) {
          b[at]! ^= 1;
          writeFileSync(p, b);
        }
      }
    }
    await expect(createRelease(releaseDeps(ws), 'toy@v1', join(root, 'release2'))).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining('m/model.bin'),
    });
  });

  it('a product pins the model in cairn.lock; fetch in a fresh clone pulls it by digest and materializes it verified', async () => {
    const { root, ws } = await trainedModel();
    const lockPath = join(root, 'cairn.lock');
    const lock = await lockModel(ws, 'toy', lockPath);
    expect(Object.keys(lock.models)).toEqual(['toy']);
    expect(readLock(lockPath).models.toy!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const remote = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remote}`, {});
    await push(deps(ws), []);
    const ci = await newWorkspace(join(tmp(), 'ci'), { actor: 'ci@example.com' });
    open.push(ci);
    await addRemote(deps(ci), 'origin', `file://${remote}`, {});
    await cloneInto(deps(ci), { name: 'origin', config: loadRemotes(ci.cairnDir).remotes.origin! });
    const models = join(tmp(), 'models');
    const got = await fetchLocked(deps(ci), lockPath, models);
    expect(got.map((g) => [g.name, g.pulled, g.files])).toEqual([['toy', true, 1]]);
    expect(readFileSync(join(models, 'toy', 'm', 'model.bin'), 'utf8')).toBe('weights-0.1\n');
    const again = await fetchLocked(deps(ci), lockPath, models);
    expect(again[0]!.pulled).toBe(false);
    writeFileSync(
      lockPath,
      JSON.stringify({
        format: 'cairn.lock/v1',
        models: { toy: { ref: 'toy@v9', digest: `sha256:${'0'.repeat(64)}` } },
      }),
    );
    await expect(fetchLocked(deps(ci), lockPath, models)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
