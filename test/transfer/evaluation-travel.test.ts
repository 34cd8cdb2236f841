/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// Evaluations travel workspace to workspace through a file remote (docs/REMOTES.md
// "Evaluations"): pulled and cloned only as their verified model.evaluate event recorded them,
// marked imported, not counted by an alias policy unless it says so; a tampered state is
// refused whole. Real workspaces, ONNX Runtime, real file:// remotes.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneWorkspace } from '../../src/app/clone.js';
import { linearOnnx } from '../../src/sdk/onnx-linear.js';
import { servicesWorkspace } from '../../src/test-support/services-workspace.js';
import type { RemoteState } from '../../src/transfer/index.js';
import { testSet } from '../server/eval-fixtures.js';

const stateOf = (remote: string) => JSON.parse(readFileSync(join(remote, 'meta', 'state.json'), 'utf8')) as RemoteState;
const writeStateOf = (remote: string, s: RemoteState) =>
  writeFileSync(join(remote, 'meta', 'state.json'), `${JSON.stringify(s)}\n`);

/** alice evaluates a good and a bad version on her test set, then pushes everything to a file remote. */
async function evaluated() {
  const alice = await servicesWorkspace('alice@example.com');
  mkdirSync(join(alice.dir, 'test'));
  writeFileSync(join(alice.dir, 'test', 't.csv'), testSet());
  await alice.run((s) => s.datasets.add({ source: join(alice.dir, 'test'), name: 'eval' }));
  for (const w of [
    [4, -2],
    [-4, 2],
  ]) {
    const d = mkdtempSync(join(tmpdir(), 'cairn-et-model-'));
    writeFileSync(join(d, 'model.onnx'), linearOnnx({ weights: w, bias: 0, output: 'probability' }));
    await alice.run((s) => s.models.register({ name: 'clf', path: d }));
  }
  const suite = join(alice.dir, 'gate.yaml');
  writeFileSync(
    suite,
    'suite: acceptance\ndata: {label: label, features: [f1, f2]}\nchecks:\n  - metric: {name: accuracy, min: 0.9}\n',
  );
  const v1: any = await alice.run((s) => s.models.evaluate('clf@v1', { suitePath: suite, data: 'eval' }));
  const v2: any = await alice.run((s) => s.models.evaluate('clf@v2', { suitePath: suite, data: 'eval' }));
  expect([v1.passed, v2.passed]).toEqual([true, false]);
  const remote = mkdtempSync(join(tmpdir(), 'cairn-et-remote-'));
  await alice.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
  await alice.run((s) => s.transfer.push([], { remote: 'origin' }));
  return { alice, remote, suite };
}

describe('evaluations travel by push, pull and clone (file remote)', () => {
  it('arrive marked imported, once; count for a policy only when it accepts imports; pass on by clone; audit verify passes', async () => {
    const { remote } = await evaluated();
    expect(stateOf(remote).evaluations).toHaveLength(2);
    const bob = await servicesWorkspace('bob@example.com');
    await bob.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
    const pulled: any = await bob.run((s) => s.transfer.pull([], { remote: 'origin' }));
    expect(pulled.imported.evaluations).toBe(2);
    await bob.run((s) => s.transfer.pull([], { remote: 'origin' }));
    const shown: any = await bob.run((s) => s.models.show('clf@v1'));
    expect(shown.evaluations).toEqual([
      expect.objectContaining({
        passed: true,
        by: 'alice@example.com',
        imported: expect.objectContaining({ author: 'alice@example.com', importedBy: 'alice@example.com' }),
      }),
    ]);
    // bob's own policy counts his own evaluations; accepting imports, alice's verdict counts.
    await bob.run((s) =>
      s.models.setPolicy('clf', 'production', { suites: ['acceptance'], approvals: 0, separateApprover: false }),
    );
    await expect(bob.run((s) => s.models.promote('clf@v1', 'production'))).rejects.toMatchObject({
      code: 'POLICY_UNMET',
    });
    await bob.run((s) =>
      s.models.setPolicy('clf', 'production', {
        suites: ['acceptance'],
        approvals: 0,
        separateApprover: false,
        acceptImported: true,
      }),
    );
    expect(await bob.run((s) => s.models.promote('clf@v1', 'production'))).toMatchObject({ alias: 'production' });
    // An imported failing verdict stays failing: v2 cannot move it.
    await expect(bob.run((s) => s.models.promote('clf@v2', 'production'))).rejects.toMatchObject({
      data: { unmet: ['suite acceptance failed on v2 (its latest evaluation)'] },
    });
    const verify: any = await bob.run((s) => s.audit.verify({}));
    expect(verify.ok, JSON.stringify(verify.problems).slice(0, 2000)).toBe(true);

    // Onward: bob pushes to another remote; carol clones it. alice's verdicts arrive by bob's import.
    const second = mkdtempSync(join(tmpdir(), 'cairn-et-second-'));
    await bob.run((s) => s.transfer.addRemote('second', `file://${second}`, {}));
    await bob.run((s) => s.transfer.push([], { remote: 'second' }));
    const carolDir = join(mkdtempSync(join(tmpdir(), 'cairn-et-carol-')), 'ws');
    await cloneWorkspace(`file://${second}`, carolDir, { name: 'origin' });
    const carol = { run: (fn: (s: any) => Promise<any>) => servicesIn(carolDir, fn) };
    const cshown: any = await carol.run((s) => s.models.show('clf@v2'));
    expect(cshown.evaluations).toEqual([expect.objectContaining({ passed: false, by: 'alice@example.com' })]);
    const cverify: any = await carol.run((s) => s.audit.verify({}));
    expect(cverify.ok, JSON.stringify(cverify.problems).slice(0, 2000)).toBe(true);
  }, 180_000);

  it('a state whose failing verdict is flipped to passing is refused whole: NOT_VOUCHED, nothing imported', async () => {
    const { remote } = await evaluated();
    const s = stateOf(remote);
    for (const e of s.evaluations) e.passed = 1;
    writeStateOf(remote, s);
    const bob = await servicesWorkspace('bob@example.com');
    await bob.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
    await expect(bob.run((x) => x.transfer.pull([], { remote: 'origin' }))).rejects.toMatchObject({
      code: 'NOT_VOUCHED',
      message: expect.stringMatching(/its verdict differ\(s\) from what the log recorded/),
    });
    expect(await bob.run((x) => x.models.list())).toEqual([]);
    expect(await bob.run((x) => x.datasets.list())).toEqual([]);
  }, 180_000);
});

async function servicesIn<T>(dir: string, fn: (s: any) => Promise<T>): Promise<T> {
  const { withServices } = await import('../../src/app/services.js');
  const env = { ...process.env, CAIRN_SERVER: '', CAIRN_WORKSPACE: '', CAIRN_CONFIG_DIR: join(dir, '.config') };
  return withServices({ cwd: dir, env }, fn);
}
