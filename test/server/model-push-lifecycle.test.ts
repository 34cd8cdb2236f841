/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP and service answers are checked field by field */
// A model version registered offline and pushed arrives on the team server as metadata only (its
// files stay in the store as packs). The rest of its story happens on the server, each step by
// whoever may take it, none of them after a `model verify` that would have fetched the files
// first: another account approves it, it is released, promoted and deployed (docs/SERVER.md
// "Model versions"). Real server, real HTTP, a folder store, two people with their own tokens.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { createRemoteServices } from '../../src/app/remote/services.js';
import { verifyReleaseBundle } from '../../src/models/index.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { signedInLaptop, startTeam, type Team } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

/** The server as `user` sees it through the CLI's client (no workspace of theirs involved). */
function onServer(t: Team, user: string) {
  return createRemoteServices(new ApiClient({ url: t.server.url, token: t.tokens[user]! }), {
    url: t.server.url,
    token: '',
    user,
    verifierKey: t.server.runtime.verifierKey,
    origin: t.server.runtime.origin,
    seen: null,
  }) as any;
}

describe('a model version pushed from a laptop, through the whole story on the server', () => {
  it('another account approves it; it is released, promoted and deployed without a verify first (files fetched on need)', async () => {
    const t = await startTeam();
    teams.push(t);
    // Each environment's hook checks that the files it is handed are the version's (byte for byte).
    const check = (file: string) => `cmp "$CAIRN_MODEL_DIR/model.onnx" ${JSON.stringify(file)}`;
    const files = (seed: number) => {
      const src = mkdtempSync(join(tmpdir(), 'cairn-mpl-model-'));
      writeTree(src, { 'model.onnx': prng(seed, 70_000), 'labels.txt': `spam\nham\n${seed}\n` });
      return src;
    };
    const [one, two, three] = [files(11), files(12), files(13)];
    writeFileSync(
      join(t.dataDir, '.cairn', 'deploy.json'),
      JSON.stringify({
        environments: {
          prod: { hook: { command: check(join(one, 'model.onnx')) }, alias: 'production' },
          canary: { hook: { command: check(join(three, 'model.onnx')) }, alias: 'canary' },
        },
      }),
    );

    // bob registers two versions on his laptop, offline, and pushes them.
    const dir = mkdtempSync(join(tmpdir(), 'cairn-mpl-bob-'));
    await (await newWorkspace(dir, { actor: 'bob@laptop' })).close();
    const bob = await signedInLaptop(t, 'bob', dir);
    // v1 trained by a run on the laptop (its outputs are the files), v2 registered from files.
    const spec = join(dir, 'train.yaml');
    writeFileSync(spec, `name: spam-train\ncommand: "cp -r ${one}/. $CAIRN_OUTPUT_DIR/"\n`);
    const sub: any = await bob.run((s) => s.runs.submit({ spec }));
    const trained: any = await bob.run((s) => s.runs.wait(sub.run.id, { pollMs: 50 }));
    expect(trained.status).toBe('completed');
    const v1: any = await bob.run((s) => s.models.register({ name: 'spam', fromRun: trained.id }));
    const v2: any = await bob.run((s) => s.models.register({ name: 'spam', path: two }));
    const v3: any = await bob.run((s) => s.models.register({ name: 'spam', path: three }));
    const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported).toMatchObject({ modelVersions: 3 });
    const dana = onServer(t, 'dana');

    // Approval: bob pushed it, so bob may not approve it; dana may.
    await expect(onServer(t, 'bob').models.approve('spam@v1', 'production')).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    expect(await dana.models.approve('spam@v1', 'production')).toMatchObject({ approver: 'dana' });

    // A release, first thing on the server: its files are fetched from the store and verified
    // (before, the release answered that the version does not verify: its tree was not here).
    // v2 came from files: no build to state provenance for, the same answer as in its workspace.
    await expect(dana.releases.create('spam@v2', join(tmpdir(), 'never'))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('registered from files'),
    });
    // v1's provenance is its run: a signed bundle once the run is recorded on the server (runs
    // travelling by push), else a clear refusal naming the run (never an internal error).
    const out = join(mkdtempSync(join(tmpdir(), 'cairn-mpl-rel-')), 'bundle');
    const runHere = await t.call('dana', 'GET', `/api/v1/runs/${trained.id}`);
    if (runHere.status === 200) {
      expect(await dana.releases.create('spam@v1', out)).toMatchObject({ dir: out, model: 'spam@v1' });
      const pem = readFileSync(join(t.dataDir, '.cairn', 'keys', 'release.pub'), 'utf8');
      const report = await verifyReleaseBundle(out, { trustedPublicKeyPem: pem });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    } else {
      await expect(dana.releases.create('spam@v1', out)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        data: { run: trained.id },
      });
    }

    // Promoted by dana (the alias policy's separation of duties), then deployed to prod.
    await dana.models.promote('spam@v1', 'production', 'promote');
    const deployed: any = await dana.deployments.deploy('spam@v1', 'prod');
    expect(deployed.status, JSON.stringify(deployed)).toBe('succeeded');

    // v3 is deployed first thing, nothing on the server having read it yet (canary serves an
    // unprotected alias): its hook gets its files, fetched from the store.
    const canary: any = await dana.deployments.deploy('spam@v3', 'canary');
    expect(canary.status, JSON.stringify(canary)).toBe('succeeded');
    const aliases = (await dana.models.versions('spam')).map((v: any) => [v.ref, v.aliases]);
    expect(aliases).toEqual(
      expect.arrayContaining([
        ['spam@v1', ['production']],
        ['spam@v3', ['canary']],
      ]),
    );
    expect(new Set([v1.digest, v2.digest, v3.digest]).size).toBe(3);

    // Evaluation is a server operation (test/server/model-evaluate-server.test.ts): the client
    // sends the suite's text, so a suite file that is not there is refused here, naming it.
    await expect(
      dana.models.evaluate('spam@v1', { suitePath: join(tmpdir(), 'no-such-gate.yaml'), data: 'x' }),
    ).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('no-such-gate.yaml') });

    // Each fetch is a `remote.pull` by the person whose step needed the files; the log verifies.
    const events: any[] = await dana.audit.events({ action: 'remote.pull', limit: 1000 });
    expect(events.map((e) => e.actor)).toEqual(expect.arrayContaining(['bob', 'dana']));
    const verified: any = await dana.audit.verify({});
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
  }, 180_000);
});
