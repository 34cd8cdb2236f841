/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// Model versions travel by push and pull (docs/REMOTES.md "Model versions"): with their files
// (packs), card and registration lineage, and only when a `model.register` (or import) event of a
// verified audit log vouches for exactly that name, number, digest and card. Real workspaces,
// real file:// remotes, the real services.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { servicesWorkspace } from '../../src/test-support/services-workspace.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import type { RemoteState } from '../../src/transfer/index.js';

const workspace = (actor: string) => servicesWorkspace(actor, 'cairn-mp');

/** A model folder with weights and a second file. */
function modelFiles(seed: number): string {
  const src = mkdtempSync(join(tmpdir(), 'cairn-mp-model-'));
  writeTree(src, { 'model.onnx': prng(seed, 40_000), 'labels.txt': `spam\nham\n${seed}\n` });
  return src;
}

const stateOf = (remote: string) => JSON.parse(readFileSync(join(remote, 'meta', 'state.json'), 'utf8')) as RemoteState;
const writeStateOf = (remote: string, s: RemoteState) =>
  writeFileSync(join(remote, 'meta', 'state.json'), `${JSON.stringify(s)}\n`);

async function published() {
  const alice = await workspace('alice@example.com');
  const remote = mkdtempSync(join(tmpdir(), 'cairn-mp-remote-'));
  await alice.run((s) => s.models.register({ name: 'spam', path: modelFiles(1), message: 'v1' }));
  await alice.run((s) => s.models.register({ name: 'spam', path: modelFiles(2), message: 'v2' }));
  await alice.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
  const pushed: any = await alice.run((s) => s.transfer.push([], { remote: 'origin' }));
  return { alice, remote, pushed };
}

describe('model versions travel by push and pull (workspace to workspace, file remote)', () => {
  it('carries the version with its files, card and lineage; the importer can verify it and audit verify passes; a re-push changes nothing', async () => {
    const { alice, remote, pushed } = await published();
    expect(pushed.models).toEqual(['spam@v1', 'spam@v2']);
    const s = stateOf(remote);
    expect(s.models.map((m) => m.name)).toEqual(['spam']);
    expect(s.modelVersions.map((v) => v.number)).toEqual([1, 2]);
    expect(s.lineage.some((e) => e.dst_type === 'model_version' && e.relation === 'files')).toBe(true);

    const bob = await workspace('bob@example.com');
    await bob.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
    const pulled: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(pulled.imported).toMatchObject({ versions: 2, modelVersions: 2 });
    expect(pulled.models.skipped).toEqual([]);
    expect(pulled.models.imported).toMatchObject([
      { model: 'spam', number: 1, author: 'alice@example.com', registrant: 'alice@example.com' },
      { model: 'spam', number: 2, author: 'alice@example.com', registrant: 'alice@example.com' },
    ]);
    const theirs: any = await alice.run((x) => x.models.show('spam@v2'));
    const ours: any = await bob.run((x) => x.models.show('spam@v2'));
    expect(ours).toMatchObject({ ref: 'spam@v2', digest: theirs.digest, by: 'alice@example.com' });
    expect(await bob.run((x) => x.models.card('spam@v2'))).toMatchObject({
      model: { name: 'spam', version: 2, digest: theirs.digest },
      registered: { by: 'alice@example.com' },
    });
    // The bytes came too, and re-hash; the row is bound to the pull event that vouched for it.
    const check: any = await bob.run((x) => x.models.verify('spam@v2'));
    expect(check).toMatchObject({ ok: true, stateProblems: [], problems: [] });
    expect(check.files).toBe(2);
    const verify: any = await bob.run((x) => x.audit.verify({}));
    expect(verify.ok, JSON.stringify(verify.problems).slice(0, 2000)).toBe(true);
    // Lineage: the files version → the model version, on bob's side too.
    const graph: any = await bob.run((x) => x.lineage.of('model:spam@v2', 'up'));
    expect(graph.edges.map((e: any) => e.relation)).toContain('files');

    // Idempotent: pushing again adds nothing, pulling again imports nothing.
    const again: any = await alice.run((x) => x.transfer.push([], { remote: 'origin' }));
    expect(again.packs.sent).toBe(0);
    expect(stateOf(remote).modelVersions).toEqual(s.modelVersions);
    const pulledAgain: any = await bob.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(pulledAgain.imported).toMatchObject({ versions: 0, modelVersions: 0 });

    // Onward: bob's log vouches for what it imported, so a third workspace takes it from bob.
    const remote2 = mkdtempSync(join(tmpdir(), 'cairn-mp-remote2-'));
    await bob.run((x) => x.transfer.addRemote('second', `file://${remote2}`, {}));
    await bob.run((x) => x.transfer.push([], { remote: 'second' }));
    const carol = await workspace('carol@example.com');
    await carol.run((x) => x.transfer.addRemote('second', `file://${remote2}`, {}));
    const third: any = await carol.run((x) => x.transfer.pull([], { remote: 'second' }));
    expect(third.imported.modelVersions).toBe(2);
    expect(third.models.imported[0]).toMatchObject({ registrant: 'alice@example.com' });
    expect(((await carol.run((x) => x.models.verify('spam@v1'))) as any).ok).toBe(true);

    // A new version registered on top of the pulled history pushes back without a clash.
    await bob.run((x) => x.models.register({ name: 'spam', path: modelFiles(3) }));
    await bob.run((x) => x.transfer.push([], { remote: 'origin' }));
    const back: any = await alice.run((x) => x.transfer.pull([], { remote: 'origin' }));
    expect(back.models.imported).toMatchObject([{ model: 'spam', number: 3, registrant: 'bob@example.com' }]);
  }, 120_000);

  it('refuses what no verified event vouches for exactly: a made-up version, another digest, another card, another registrant; a clash is DIVERGED', async () => {
    const { remote } = await published();
    const honest = stateOf(remote);
    const v1 = honest.modelVersions[0]!;
    const v2 = honest.modelVersions[1]!;
    const pullWith = async (edit: (s: RemoteState) => void) => {
      const s: RemoteState = JSON.parse(JSON.stringify(honest));
      edit(s);
      writeStateOf(remote, s);
      const w = await workspace('mallory@example.com');
      await w.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
      const r: any = await w.run((x) => x.transfer.pull([], { remote: 'origin' }));
      const versions: any[] = await w.run((x) => x.models.versions('spam').catch(() => []));
      return { r, versions, w };
    };
    // A version nobody registered (v3 pointing at v1's files).
    const madeUp = await pullWith((s) => s.modelVersions.push({ ...v1, id: 'forged-id', number: 3 }));
    expect(madeUp.r.models.skipped).toMatchObject([{ model: 'spam', number: 3, why: /no event/ }]);
    expect(madeUp.versions.map((v) => v.ref).sort()).toEqual(['spam@v1', 'spam@v2']);
    // The refusal is recorded in the pull event.
    const ev: any[] = await madeUp.w.run((x) => x.audit.events({ action: 'remote.pull' }));
    expect(JSON.stringify(ev)).toContain('skippedModels');
    // v2's number with v1's digest and files.
    const swapped = await pullWith((s) => {
      s.modelVersions[1] = { ...v2, digest: v1.digest, files_version_id: v1.files_version_id };
    });
    expect(swapped.r.models.skipped).toMatchObject([{ number: 2, why: /another digest/ }]);
    // A doctored card (better metrics) under the logged digest.
    const card = await pullWith((s) => {
      const c = JSON.parse(s.modelVersions[0]!.card);
      c.metrics = { accuracy: 0.999 };
      s.modelVersions[0] = { ...v1, card: JSON.stringify(c) };
    });
    expect(card.r.models.skipped).toMatchObject([{ number: 1, why: /card/ }]);
    // v2 kept: it does not depend on v1.
    expect(card.versions.map((v) => v.ref)).toEqual(['spam@v2']);
    // Another registrant claimed in the row: the importer records the one the event names.
    const claimed = await pullWith((s) => {
      s.modelVersions[0] = { ...v1, created_by: 'someone-else' };
    });
    expect(claimed.r.models.skipped).toEqual([]);
    expect(((await claimed.w.run((x) => x.models.show('spam@v1'))) as any).by).toBe('alice@example.com');
    // Files pointed at a version that is not there.
    const noFiles = await pullWith((s) => {
      s.modelVersions[0] = { ...v1, files_version_id: 'nowhere' };
    });
    expect(noFiles.r.models.skipped).toMatchObject([{ number: 1, why: /files/ }]);
    writeStateOf(remote, honest);

    // Someone else's spam@v1 (registered from nothing) clashes: DIVERGED, nothing imported or sent.
    const dave = await workspace('dave@example.com');
    await dave.run((x) => x.models.register({ name: 'spam', path: modelFiles(9) }));
    await dave.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
    await expect(dave.run((x) => x.transfer.push([], { remote: 'origin' }))).rejects.toMatchObject({
      code: 'DIVERGED',
    });
    await expect(dave.run((x) => x.transfer.pull([], { remote: 'origin' }))).rejects.toMatchObject({
      code: 'DIVERGED',
    });
    expect(stateOf(remote).modelVersions).toEqual(honest.modelVersions);
  }, 120_000);
});
