import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { emptyState, type RemoteState } from './state.js';
import { collectVouchers, planImport, type Vouchers } from './vouch.js';

const D = (c: string) => c.repeat(64);
const WS = '01900000-0000-7000-8000-000000000001';
const LOG = { workspace: WS, origin: `cairn.local/${WS}` };

function ev(index: number, e: Record<string, unknown>): string {
  return canonicalJson({ index, workspace: WS, outcome: 'ok', actor: { id: 'alice', auth: 'environment' }, ...e });
}

function state(
  versions: Array<{
    name: string;
    number: number;
    digest: string;
    author?: string;
    parent?: string | null;
    id?: string;
  }>,
): RemoteState {
  const s = emptyState();
  const ids = new Map<string, string>();
  for (const v of versions) {
    if (!ids.has(v.name)) {
      ids.set(v.name, `ds-${v.name}`);
      s.datasets.push({ id: `ds-${v.name}`, name: v.name, created_at: 't', created_by: 'alice' });
    }
    s.versions.push({
      id: v.id ?? `${v.name}-${v.number}`,
      dataset_id: ids.get(v.name)!,
      number: v.number,
      digest: v.digest,
      parent_id: v.parent === undefined ? (v.number > 1 ? `${v.name}-${v.number - 1}` : null) : v.parent,
      message: '',
      author: v.author ?? 'alice',
      created_at: 't',
      file_count: 1,
      total_bytes: 1,
      new_bytes: 1,
      stats: '{}',
      packs: [],
    });
  }
  s.tags.push({ dataset_id: 'ds-a', tag: 'prod', version_id: 'a-2', created_at: 't', created_by: 'alice' });
  return s;
}

describe('collectVouchers / planImport (pure)', () => {
  it('create, clean, split and import events vouch; failed events, other workspaces and moved entries do not', () => {
    const v: Vouchers = new Map();
    collectVouchers(v, LOG, [
      ev(0, { action: 'workspace.init' }),
      ev(1, {
        action: 'dataset.version.create',
        target: { type: 'dataset', name: 'a', version: 1, digest: `sha256:${D('1')}` },
      }),
      ev(2, {
        action: 'dataset.clean',
        target: { type: 'dataset', name: 'a', version: 2, digest: `sha256:${D('2')}` },
      }),
      ev(3, {
        action: 'dataset.split',
        outputs: [`sha256:${D('3')}`, `sha256:${D('4')}`],
        params: { splits: ['a/train@v1', 'a/test@v1'] },
      }),
      ev(4, {
        action: 'remote.pull',
        params: {
          imported: [{ dataset: 'b', number: 7, digest: `sha256:${D('5')}`, author: 'bob', origin: 'x', index: 9 }],
        },
      }),
      ev(5, {
        action: 'dataset.version.create',
        outcome: 'failed',
        target: { type: 'dataset', name: 'c', version: 1, digest: `sha256:${D('6')}` },
      }),
      canonicalJson({
        index: 6,
        workspace: 'someone-else',
        outcome: 'ok',
        actor: { id: 'x' },
        action: 'dataset.version.create',
        target: { name: 'd', version: 1, digest: `sha256:${D('7')}` },
      }),
      ev(99, {
        action: 'dataset.version.create',
        target: { type: 'dataset', name: 'e', version: 1, digest: `sha256:${D('8')}` },
      }),
    ]);
    expect([...v.keys()].sort()).toEqual(['a/test@1', 'a/train@1', 'a@1', 'a@2', 'b@7']);
    expect(v.get('a/test@1')).toEqual([{ digest: `sha256:${D('4')}`, author: 'alice', origin: LOG.origin, index: 3 }]);
    // An import vouches under the importing log's own name and index, for the author it recorded.
    expect(v.get('b@7')).toEqual([{ digest: `sha256:${D('5')}`, author: 'bob', origin: LOG.origin, index: 4 }]);
  });

  it('imports vouched versions, refuses the rest with the reason, and drops what hangs on them', () => {
    const v: Vouchers = new Map();
    collectVouchers(v, LOG, [
      ev(0, { action: 'dataset.version.create', target: { name: 'a', version: 1, digest: `sha256:${D('1')}` } }),
      ev(1, { action: 'dataset.version.create', target: { name: 'a', version: 2, digest: `sha256:${D('2')}` } }),
      ev(2, { action: 'dataset.version.create', target: { name: 'b', version: 1, digest: `sha256:${D('3')}` } }),
      ev(3, { action: 'dataset.version.create', target: { name: 'a', version: 3, digest: `sha256:${D('1')}` } }),
    ]);
    const s = state([
      { name: 'a', number: 1, digest: D('1') },
      { name: 'a', number: 2, digest: D('9') },
      { name: 'a', number: 3, digest: D('1') },
      { name: 'b', number: 1, digest: D('3'), author: 'mallory' },
      { name: 'c', number: 1, digest: D('4') },
    ]);
    s.lineage.push({
      id: 'e1',
      src_type: 'dataset_version',
      src_id: 'a-1',
      dst_type: 'dataset_version',
      dst_id: 'a-2',
      relation: 'derived_from',
      via_type: null,
      via_id: null,
      created_at: 't',
    });
    const plan = planImport(s, v, new Set());
    expect(plan.imported.map((i) => [i.dataset, i.number, i.index])).toEqual([['a', 1, 0]]);
    // Parents first (by number), so a refused parent takes its successors with it.
    expect(plan.skipped.map((x) => [x.dataset, x.number, x.why])).toEqual([
      ['b', 1, 'the event that records it names another author (alice)'],
      ['c', 1, 'no event of a verified audit log records it'],
      ['a', 2, `the event that records a@v2 names another digest (sha256:${D('2')})`],
      ['a', 3, 'its parent version is refused or missing'],
    ]);
    expect(plan.state.versions.map((x) => x.id)).toEqual(['a-1']);
    expect(plan.state.datasets.map((d) => d.name)).toEqual(['a']);
    expect(plan.state.tags).toEqual([]);
    expect(plan.state.lineage).toEqual([]);
    // Versions this workspace holds already are kept (for their packs) without a voucher.
    const local = planImport(s, new Map(), new Set(['a-1', 'a-2']));
    expect(local.imported).toEqual([]);
    expect(local.state.versions.map((x) => x.id)).toEqual(['a-1', 'a-2']);
    expect(local.state.tags.map((t) => t.tag)).toEqual(['prod']);
    expect(local.state.lineage.map((e) => e.id)).toEqual(['e1']);
  });
});
