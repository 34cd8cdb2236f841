import { describe, expect, it } from 'vitest';
import { emptyState, mergeState, parseState, type RemoteState } from './state.js';

const ds = (id: string, name: string) => ({
  id,
  name,
  created_at: '2026-01-01T00:00:00.000Z',
  created_by: 'a@example.com',
});
const ver = (id: string, dataset: string, number: number, digest: string, packs: string[] = []) => ({
  id,
  dataset_id: dataset,
  number,
  digest: digest.repeat(64).slice(0, 64),
  parent_id: null,
  message: '',
  author: 'a@example.com',
  created_at: `2026-01-0${number}T00:00:00.000Z`,
  file_count: 1,
  total_bytes: 1,
  new_bytes: 1,
  stats: '{}',
  packs: packs.map((p) => p.repeat(64).slice(0, 64)),
});
const state = (over: Partial<RemoteState>): RemoteState => ({ ...emptyState(), ...over });

describe('mergeState', () => {
  it('adds what the base lacks and counts it', () => {
    const base = state({ datasets: [ds('d1', 'flights')], versions: [ver('v1', 'd1', 1, 'a', ['1'])] });
    const incoming = state({
      datasets: [ds('d1', 'flights'), ds('d2', 'mail')],
      versions: [ver('v1', 'd1', 1, 'a', ['1']), ver('v2', 'd1', 2, 'b', ['2']), ver('v3', 'd2', 1, 'c', ['3'])],
    });
    const m = mergeState(base, incoming);
    expect(m.conflicts).toEqual([]);
    expect(m.added).toEqual({ datasets: 1, versions: 2, modelVersions: 0, runs: 0 });
    expect(m.state.versions.map((v) => v.id)).toEqual(['v1', 'v2', 'v3']);
  });

  it('the same name with other content is a conflict, never an overwrite', () => {
    const base = state({ datasets: [ds('d1', 'flights')], versions: [ver('v1', 'd1', 1, 'a')] });
    const otherDataset = state({ datasets: [ds('dX', 'flights')], versions: [] });
    expect(mergeState(base, otherDataset).conflicts).toEqual([
      {
        what: 'dataset flights',
        ours: 'created 2026-01-01T00:00:00.000Z by a@example.com',
        theirs: 'created 2026-01-01T00:00:00.000Z by a@example.com',
      },
    ]);
    const otherVersion = state({ datasets: [ds('d1', 'flights')], versions: [ver('v9', 'd1', 1, 'f')] });
    const m = mergeState(base, otherVersion);
    expect(m.conflicts).toEqual([
      { what: 'flights@v1', ours: `sha256:${'f'.repeat(64)}`, theirs: `sha256:${'a'.repeat(64)}` },
    ]);
    expect(m.state.versions[0]!.id).toBe('v1');
  });

  it('a tag goes to the newer assignment; audit logs keep the longest', () => {
    const t = (version: string, at: string) => ({
      dataset_id: 'd1',
      tag: 'prod',
      version_id: version,
      created_at: at,
      created_by: 'a@example.com',
    });
    const base = state({
      tags: [t('v1', '2026-01-02')],
      audit: [{ workspace: 'w', origin: 'o', size: 9, root: 'r9', key: 'audit/w/' }],
    });
    expect(mergeState(base, state({ tags: [t('v2', '2026-01-03')] })).state.tags[0]!.version_id).toBe('v2');
    expect(mergeState(base, state({ tags: [t('v0', '2026-01-01')] })).state.tags[0]!.version_id).toBe('v1');
    expect(
      mergeState(base, state({ audit: [{ workspace: 'w', origin: 'o', size: 4, root: 'r4', key: 'audit/w/' }] })).state
        .audit[0]!.size,
    ).toBe(9);
    expect(
      mergeState(base, state({ audit: [{ workspace: 'w', origin: 'o', size: 12, root: 'r12', key: 'audit/w/' }] }))
        .state.audit[0]!.root,
    ).toBe('r12');
  });

  it('parseState refuses other formats and malformed pack lists', () => {
    expect(() => parseState(Buffer.from('{"format":"x"}'))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => parseState(Buffer.from('nope'))).toThrow(expect.objectContaining({ code: 'CORRUPT_OBJECT' }));
    const bad = { ...emptyState(), versions: [{ ...ver('v1', 'd1', 1, 'a'), packs: ['../../etc'] }] };
    expect(() => parseState(Buffer.from(JSON.stringify(bad)))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    );
    expect(parseState(Buffer.from(JSON.stringify(emptyState())))).toEqual(emptyState());
  });
});
