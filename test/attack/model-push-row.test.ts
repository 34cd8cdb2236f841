/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// A model version travels as its row: the registering event vouches for its name, number,
// digest, card and format, so every other field the importer keeps must be one of those or
// follow from them. The row's `signature` (what `model evaluate` feeds the model by name, what
// `model show` prints) and `run_id` (what a release states as the model's build, whose author
// separation of duties excludes) are both in the card: a state that says otherwise is doctored.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { servicesWorkspace } from '../../src/test-support/services-workspace.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import type { RemoteState } from '../../src/transfer/index.js';

const workspace = (actor: string) => servicesWorkspace(actor, 'cairn-att-mrow');

const stateOf = (remote: string) => JSON.parse(readFileSync(join(remote, 'meta', 'state.json'), 'utf8')) as RemoteState;
const writeStateOf = (remote: string, s: RemoteState) =>
  writeFileSync(join(remote, 'meta', 'state.json'), `${JSON.stringify(s)}\n`);

describe('attack: a pushed model row whose unvouched fields disagree with its vouched card', () => {
  it('is not imported: another signature, or a run the card does not name', async () => {
    const alice = await workspace('alice@example.com');
    const remote = mkdtempSync(join(tmpdir(), 'cairn-att-mrow-remote-'));
    const src = mkdtempSync(join(tmpdir(), 'cairn-att-mrow-model-'));
    writeTree(src, { 'model.onnx': prng(5, 20_000) });
    const sig = join(src, '..', `sig-${Date.now()}.json`);
    writeFileSync(sig, JSON.stringify({ inputs: [{ name: 'age' }, { name: 'income' }], outputs: [{ name: 'p' }] }));
    await alice.run((s) => s.models.register({ name: 'credit', path: src, signature: sig }));
    await alice.run((s) => s.transfer.addRemote('origin', `file://${remote}`, {}));
    await alice.run((s) => s.transfer.push([], { remote: 'origin' }));
    const honest = stateOf(remote);
    const v1 = honest.modelVersions[0]!;
    expect(JSON.parse(v1.signature!).inputs).toEqual([{ name: 'age' }, { name: 'income' }]);

    const pullWith = async (edit: (v: RemoteState['modelVersions'][number]) => void) => {
      const s: RemoteState = JSON.parse(JSON.stringify(honest));
      edit(s.modelVersions[0]!);
      writeStateOf(remote, s);
      const w = await workspace('bob@example.com');
      await w.run((x) => x.transfer.addRemote('origin', `file://${remote}`, {}));
      const r: any = await w.run((x) => x.transfer.pull([], { remote: 'origin' }));
      const shown: any = await w.run((x) => x.models.show('credit@v1').catch(() => null));
      return { r, shown };
    };

    // The inputs swapped: evaluation would feed income as age.
    const swapped = await pullWith((v) => {
      v.signature = JSON.stringify({ inputs: [{ name: 'income' }, { name: 'age' }], outputs: [{ name: 'p' }] });
    });
    expect(swapped.r.models.skipped).toMatchObject([{ model: 'credit', number: 1, why: /signature/ }]);
    expect(swapped.shown).toBeNull();

    // A run named as its build that the card (and so the registering event) never named.
    const built = await pullWith((v) => {
      v.run_id = '0190aaaa-0000-7000-8000-000000000000';
    });
    expect(built.r.models.skipped).toMatchObject([{ model: 'credit', number: 1, why: /run/ }]);
    expect(built.shown).toBeNull();

    // The honest row still comes in, signature and all.
    writeStateOf(remote, honest);
    const ok = await pullWith(() => {});
    expect(ok.r.models.skipped).toEqual([]);
    expect(ok.shown).toMatchObject({ ref: 'credit@v1', signature: { inputs: [{ name: 'age' }, { name: 'income' }] } });
  }, 120_000);
});
