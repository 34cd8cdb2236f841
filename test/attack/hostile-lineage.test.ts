// Lineage edges that arrive by pull or clone were stored as sent: whoever wrote the remote's
// state could claim that a version was cleaned from another, hang edges on runs or versions that
// are not there, or say a model came from other data. Now an edge comes in only when a verified
// event records it (a clean or split, or an earlier import that recorded it) or the vouched rows
// it connects say so (a run's stored inputs and output, a model version's files and run); every
// other edge is refused and named (`lineage.skipped`, the pull event's `params.skippedEdges`).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { uuidv7 } from '../../src/core/ids.js';
import { addVersion } from '../../src/datasets/add.js';
import { cleanVersion } from '../../src/dataprep/service/clean.js';
import type { DataprepDeps } from '../../src/dataprep/service/context.js';
import { splitVersion } from '../../src/dataprep/service/split.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { writeTree } from '../../src/test-support/workspace.js';
import { cloneInto } from '../../src/transfer/clone.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote } from '../../src/transfer/remote-admin.js';
import { loadRemotesFile } from '../../src/app/transfer-config.js';
import type { RemoteState } from '../../src/transfer/state.js';
import { readRemoteState, useWorkspaces, writeRemoteState } from '../../src/test-support/remote-fixtures.js';

const deps = (ws: Workspace) => transferDeps(ws);
type Edge = RemoteState['lineage'][number];

describe('attack: lineage edges a remote sends', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);
  /** alice: t@v1 (a table), c@v1 cleaned from it, s/train and s/test split from c, other@v1 unrelated. */
  const published = async () => {
    const a = await workspace('alice@example.com');
    const d: DataprepDeps = { ...a, pseudonymKey: () => Buffer.alloc(32, 1) };
    const dir = tmp();
    const rows = Array.from({ length: 60 }, (_, i) => `${i},${['a', 'b'][i % 2]}`);
    writeTree(join(dir, 'src'), { 't.csv': `id,cls\n${rows.join('\n')}\n` });
    writeTree(join(dir, 'other'), { 'o.txt': 'other\n' });
    await addVersion(d, { source: join(dir, 'src'), name: 't' });
    await addVersion(d, { source: join(dir, 'other'), name: 'other' });
    const recipe = join(dir, 'r.yaml');
    writeFileSync(recipe, 'steps:\n  - filter: id % 2 = 0\n');
    await cleanVersion(d, 't@v1', { recipePath: recipe, name: 'c', format: 'csv' });
    await splitVersion(d, 'c@v1', { name: 's', ratios: 'train=0.7,test=0.3', format: 'csv', key: ['id'] });
    const remote = join(tmp(), 'remote');
    await addRemote(deps(a), 'origin', `file://${remote}`, {});
    await push(deps(a), []);
    return { a, remote };
  };
  const puller = async (remote: string) => {
    const b = await workspace('bob@example.com');
    await addRemote(deps(b), 'origin', `file://${remote}`, {});
    return b;
  };
  const edgesOf = async (ws: Workspace) =>
    (await ws.meta.db.selectFrom('lineage_edges').selectAll().orderBy('id').execute()).map((e) => e.id);
  const ids = (s: RemoteState) => {
    const names = new Map(s.datasets.map((d) => [d.id, d.name]));
    return new Map(s.versions.map((v) => [names.get(v.dataset_id)!, v.id]));
  };

  it('honest edges come in whole, and pass on from remote to remote', async () => {
    const { remote } = await published();
    const honest = readRemoteState(remote)
      .lineage.map((e) => e.id)
      .sort();
    expect(honest.length).toBe(3); // t → c (cleaned_from), c → s/train, c → s/test (split_from)
    const b = await puller(remote);
    const got = await pull(deps(b), []);
    expect(got.lineage).toEqual({ imported: 3, skipped: [] });
    expect(await edgesOf(b)).toEqual(honest);
    // bob pushes on to his own remote; carol clones from there: bob's pull event vouches for them.
    const second = join(tmp(), 'second');
    await addRemote(deps(b), 'second', `file://${second}`, {});
    await push(deps(b), [], { remote: 'second' });
    const c = await workspace('carol@example.com');
    await addRemote(deps(c), 'second', `file://${second}`, {});
    await cloneInto(deps(c), { name: 'second', config: loadRemotesFile(c.cairnDir).remotes.second! });
    expect(await edgesOf(c)).toEqual(honest);
  }, 120_000);

  it('forged edges are refused and named: a claim no log records, an edge to nothing, a run or model that is not there', async () => {
    const { remote } = await published();
    const s = readRemoteState(remote);
    const v = ids(s);
    const base = s.lineage.find((e) => e.relation === 'cleaned_from')!;
    const forge = (over: Partial<Edge>): Edge => ({ ...base, id: uuidv7(), ...over });
    const forged = [
      forge({ src_id: v.get('other')! }), // "c was cleaned from other": no log says so
      forge({ src_id: v.get('t')!, dst_id: v.get('other')! }), // "other was cleaned from t"
      forge({ src_id: uuidv7() }), // from a version that is not there
      forge({ dst_type: 'run', dst_id: uuidv7(), relation: 'input:train', via_type: null, via_id: null }),
      forge({ dst_type: 'model_version', dst_id: uuidv7(), relation: 'files', via_type: null, via_id: null }),
      forge({ relation: 'split_from', via_type: null, via_id: null }), // t → c as a split: no split made c
    ];
    s.lineage.push(...forged);
    writeRemoteState(remote, s);
    const b = await puller(remote);
    const got = await pull(deps(b), []);
    expect(got.lineage.imported).toBe(3);
    expect(got.lineage.skipped.map((x) => x.id).sort()).toEqual(forged.map((e) => e.id).sort());
    const mine = new Set(await edgesOf(b));
    for (const e of forged) expect(mine.has(e.id)).toBe(false);
    const last = await b.meta.db.selectFrom('audit_events').select('entry').orderBy('idx', 'desc').limit(1).execute();
    expect(JSON.parse(last[0]!.entry).params.skippedEdges).toHaveLength(forged.length);
    // A clone refuses them the same way.
    const c = await puller(remote);
    await cloneInto(deps(c), { name: 'origin', config: loadRemotesFile(c.cairnDir).remotes.origin! });
    const cloned = new Set(await edgesOf(c));
    for (const e of forged) expect(cloned.has(e.id)).toBe(false);
    expect(cloned.size).toBe(3);
  }, 120_000);

  it('property: one edited field of one edge is refused or harmless; the honest edges always come in', async () => {
    const { remote } = await published();
    const clean = readRemoteState(remote);
    const v = [...ids(clean).values()];
    let refused = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = mulberry32(seed);
      const s = structuredClone(clean);
      const i = Math.floor(rnd() * s.lineage.length);
      const e = s.lineage[i]!;
      const field = (['src_id', 'dst_id', 'relation', 'src_type', 'dst_type', 'via_id'] as const)[
        Math.floor(rnd() * 6)
      ]!;
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
      const edited: Edge = {
        ...e,
        id: uuidv7(),
        [field]:
          field === 'src_id' || field === 'dst_id'
            ? pick([...v, uuidv7()])
            : field === 'relation'
              ? pick(['cleaned_from', 'split_from', 'output', 'files', 'input:x'])
              : field === 'via_id'
                ? pick([null, '0'.repeat(64), e.via_id])
                : pick(['dataset_version', 'run', 'model_version']),
      };
      s.lineage.push(edited);
      writeRemoteState(remote, s);
      const b = await puller(remote);
      await pull(deps(b), []);
      const mine = new Set(await edgesOf(b));
      for (const h of clean.lineage) expect(mine.has(h.id), `seed ${seed}`).toBe(true);
      if (!mine.has(edited.id)) refused++;
      else {
        // Harmless: the edit left an edge an event records (the same claim as an honest one).
        const same = clean.lineage.some(
          (h) =>
            h.src_id === edited.src_id &&
            h.dst_id === edited.dst_id &&
            h.relation === edited.relation &&
            h.src_type === edited.src_type &&
            h.dst_type === edited.dst_type,
        );
        expect(same, `seed ${seed}: ${JSON.stringify(edited)}`).toBe(true);
      }
    }
    expect(refused).toBeGreaterThan(0);
  }, 180_000);
});
