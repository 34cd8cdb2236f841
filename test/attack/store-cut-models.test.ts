// The store's state as a reader of some projects sees it (cutState) drops another project's run
// outputs and what hangs only on them. A model version registered from such a run hangs on it
// too (its files are that output): listed, every pull of that reader named it as refused ("the
// dataset version that holds its files is refused or missing": a tamper warning for honest data)
// and the state carried the hidden version's id. The model's own rows and card stay readable
// through the models API (models are `default`'s, docs/SERVER.md).
import { describe, expect, it } from 'vitest';
import { cutState } from '../../src/server/store-scope.js';
import { emptyState, type RemoteState } from '../../src/transfer/index.js';

const hex = (c: string) => c.repeat(64);

describe('attack: a model version whose files are a hidden run output, in the cut store state', () => {
  it('is left out with its model when nothing else of the model is left; a readable one stays', () => {
    const s = emptyState();
    s.datasets.push(
      { id: 'd-run', name: 'runs/secret-train', created_at: '', created_by: 'x' },
      { id: 'd-files', name: 'models/open', created_at: '', created_by: 'x' },
    );
    const version = (id: string, dataset: string, digest: string, pack: string) =>
      ({
        id,
        dataset_id: dataset,
        number: 1,
        digest,
        parent_id: null,
        message: '',
        packs: [pack],
      }) as RemoteState['versions'][number];
    s.versions.push(version('v-run', 'd-run', hex('a'), hex('1')), version('v-files', 'd-files', hex('b'), hex('2')));
    s.packs.push({ id: hex('1'), size: 10 }, { id: hex('2'), size: 10 });
    s.models.push(
      { id: 'm-secret', name: 'secret-model', created_at: '', created_by: 'x' },
      { id: 'm-open', name: 'open', created_at: '', created_by: 'x' },
    );
    const mv = (id: string, model: string, files: string, digest: string) =>
      ({
        id,
        model_id: model,
        number: 1,
        digest,
        files_version_id: files,
        format: 'files',
        signature: null,
        run_id: null,
        card: '{}',
        created_at: '',
        created_by: 'x',
      }) as RemoteState['modelVersions'][number];
    s.modelVersions.push(mv('mv-secret', 'm-secret', 'v-run', hex('a')), mv('mv-open', 'm-open', 'v-files', hex('b')));

    const cut = cutState(s, new Set(['runs/secret-train@v1'])).state;
    expect(cut.versions.map((v) => v.id)).toEqual(['v-files']);
    expect(cut.modelVersions.map((v) => v.id)).toEqual(['mv-open']);
    expect(cut.models.map((m) => m.id)).toEqual(['m-open']);
    expect(JSON.stringify(cut)).not.toContain('v-run');
    // A reader of every project's cut (nothing hidden) keeps both.
    expect(cutState(s, new Set()).state.modelVersions).toHaveLength(2);
  });
});
