import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { isCairnError } from '../core/errors.js';
import { addVersion } from '../datasets/add.js';
import { tagVersion } from '../datasets/tag.js';
import { cli } from '../test-support/cli.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { lineageDot, lineageMermaid, lineageOf, renderLineage, type LineageEdge, type LineageNode } from './lineage.js';

/** Adds a version of `name` with fresh content (seed) and returns its id and digest. */
async function add(
  ws: Workspace,
  dir: string,
  name: string,
  seed: number,
  from: string[] = [],
): Promise<{ ref: string; id: string; digest: string }> {
  const src = join(dir, 'src', `${name}-${seed}`);
  writeTree(src, { 'data.bin': prng(seed, 3000) });
  const r = await addVersion(ws, { source: src, name, from });
  const row = await ws.meta.db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id'])
    .where('d.name', '=', name)
    .where('v.number', '=', r.version)
    .executeTakeFirstOrThrow();
  return { ref: r.ref, id: row.id, digest: r.digest };
}

const node = (v: { ref: string; id: string; digest: string }): LineageNode => ({
  key: `dataset_version:${v.id}`,
  type: 'dataset_version',
  id: v.id,
  ref: v.ref,
  digest: v.digest,
});
const edge = (from: { id: string }, to: { id: string }): LineageEdge => ({
  from: `dataset_version:${from.id}`,
  to: `dataset_version:${to.id}`,
  relation: 'derived_from',
  via: null,
});
const byKey = <T extends { key: string }>(xs: T[]) => [...xs].sort((a, b) => a.key.localeCompare(b.key));
const byEnds = (xs: LineageEdge[]) => [...xs].sort((a, b) => `${a.from}>${a.to}`.localeCompare(`${b.from}>${b.to}`));

describe('lineage', () => {
  const tmp = useTempDirs();

  it('data add --from a@v1 --from b@v2: up, down and both, exact nodes and edges (in-process and CLI)', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const a1 = await add(ws, dir, 'a', 1);
    const b1 = await add(ws, dir, 'b', 2);
    const b2 = await add(ws, dir, 'b', 3);
    const c1 = await add(ws, dir, 'c', 4, ['a@v1', 'b@v2']);
    expect([a1.ref, b1.ref, b2.ref, c1.ref]).toEqual(['a@v1', 'b@v1', 'b@v2', 'c@v1']);

    // The event of the derived version names its inputs by digest, in the order given.
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select('entry')
      .orderBy('idx', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(ev.entry)).toMatchObject({
      action: 'dataset.version.create',
      inputs: [a1.digest, b2.digest],
      outputs: [c1.digest],
    });

    const up = await lineageOf(ws.meta.db, 'c@v1', 'up');
    expect(up.root).toBe(`dataset_version:${c1.id}`);
    expect(up.direction).toBe('up');
    expect(up.nodes[0]).toEqual(node(c1));
    expect(byKey(up.nodes)).toEqual(byKey([node(c1), node(a1), node(b2)]));
    expect(byEnds(up.edges)).toEqual(byEnds([edge(a1, c1), edge(b2, c1)]));

    // Nothing is built from c yet.
    const cDown = await lineageOf(ws.meta.db, 'c', 'down');
    expect(cDown).toEqual({ root: `dataset_version:${c1.id}`, direction: 'down', nodes: [node(c1)], edges: [] });

    const aDown = await lineageOf(ws.meta.db, 'a@v1', 'down');
    expect(aDown.nodes).toEqual([node(a1), node(c1)]);
    expect(aDown.edges).toEqual([edge(a1, c1)]);
    expect((await lineageOf(ws.meta.db, 'a@v1', 'up')).edges).toEqual([]);
    // b@v1 was not used; b@v2 was.
    expect((await lineageOf(ws.meta.db, 'b@v1', 'both')).edges).toEqual([]);
    expect((await lineageOf(ws.meta.db, 'b@v2', 'down')).edges).toEqual([edge(b2, c1)]);
    const both = await lineageOf(ws.meta.db, 'c@v1', 'both');
    expect(byKey(both.nodes)).toEqual(byKey(up.nodes));
    expect(byEnds(both.edges)).toEqual(byEnds(up.edges));
    // A tag resolves to the same node.
    await tagVersion(ws, 'b@v2', 'clean');
    expect((await lineageOf(ws.meta.db, 'b@clean', 'down')).edges).toEqual([edge(b2, c1)]);
    expect(renderLineage(aDown)).toBe(`a@v1  ${a1.digest}\n  → derived_from c@v1`);
    await ws.close();

    // The CLI prints the same graph with --json, and text without.
    for (const [args, want] of [
      [['--up'], up],
      [['--down'], cDown],
      [[], both],
    ] as const) {
      const r = cli(['lineage', 'c@v1', ...args, '--json'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const g = r.json as typeof up;
      expect({ ...g, nodes: byKey(g.nodes), edges: byEnds(g.edges) }).toEqual({
        ...want,
        nodes: byKey(want.nodes),
        edges: byEnds(want.edges),
      });
    }
    const text = cli(['lineage', 'c@v1', '--up'], { cwd: dir });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`c@v1  ${c1.digest}`);
    expect(lines.slice(1).sort()).toEqual(['  ← derived_from a@v1', '  ← derived_from b@v2']);
    expect(cli(['lineage', 'b@v1'], { cwd: dir }).stdout).toBe(`b@v1  ${b1.digest}\n  (no recorded lineage)\n`);
  });

  it('a chain of three derivations walks fully in both directions', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const x = await add(ws, dir, 'raw', 10);
    const y = await add(ws, dir, 'clean', 11, ['raw@v1']);
    const z = await add(ws, dir, 'features', 12, ['clean@v1']);
    const w = await add(ws, dir, 'train', 13, ['features@v1']);

    const up = await lineageOf(ws.meta.db, 'train@v1', 'up');
    expect(up.nodes).toEqual([node(w), node(z), node(y), node(x)]);
    expect(up.edges).toEqual([edge(z, w), edge(y, z), edge(x, y)]);

    const down = await lineageOf(ws.meta.db, 'raw@v1', 'down');
    expect(down.nodes).toEqual([node(x), node(y), node(z), node(w)]);
    expect(down.edges).toEqual([edge(x, y), edge(y, z), edge(z, w)]);

    const mid = await lineageOf(ws.meta.db, 'clean', 'both');
    expect(mid.nodes).toEqual([node(y), node(x), node(z), node(w)]);
    expect(mid.edges).toEqual([edge(x, y), edge(y, z), edge(z, w)]);
    expect(renderLineage(mid)).toBe(
      `clean@v1  ${y.digest}\n  ← derived_from raw@v1\n  → derived_from features@v1\n    → derived_from train@v1`,
    );
    expect(renderLineage(up)).toBe(
      `train@v1  ${w.digest}\n  ← derived_from features@v1\n    ← derived_from clean@v1\n      ← derived_from raw@v1`,
    );

    // maxDepth bounds the walk.
    const near = await lineageOf(ws.meta.db, 'raw@v1', 'down', 1);
    expect(near.edges).toEqual([edge(x, y)]);
    expect(near.nodes).toEqual([node(x), node(y)]);
    await ws.close();

    const r = cli(['lineage', 'raw@v1', '--down', '--json'], { cwd: dir });
    expect(r.json).toEqual(down);
  });

  it('a diamond lists each node and edge once', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const x = await add(ws, dir, 'x', 20);
    const y = await add(ws, dir, 'y', 21, ['x@v1']);
    const d = await add(ws, dir, 'd', 22, ['x@v1', 'y@v1']);
    const up = await lineageOf(ws.meta.db, 'd@v1', 'up');
    expect(byKey(up.nodes)).toEqual(byKey([node(d), node(x), node(y)]));
    expect(byEnds(up.edges)).toEqual(byEnds([edge(x, d), edge(y, d), edge(x, y)]));
    const down = await lineageOf(ws.meta.db, 'x@v1', 'down');
    expect(byKey(down.nodes)).toEqual(byKey([node(x), node(y), node(d)]));
    expect(byEnds(down.edges)).toEqual(byEnds([edge(x, y), edge(x, d), edge(y, d)]));
    await ws.close();
  });

  it('an unknown --from ref fails before anything is written; lineage of an unknown ref is NOT_FOUND', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 's'), { 'f.bin': prng(30, 100) });
    await expect(addVersion(ws, { source: join(dir, 's'), name: 'c', from: ['nope@v1'] })).rejects.toSatisfy((e) =>
      isCairnError(e, 'NOT_FOUND'),
    );
    expect(await ws.meta.db.selectFrom('dataset_versions').selectAll().execute()).toEqual([]);
    expect(await ws.meta.db.selectFrom('lineage_edges').selectAll().execute()).toEqual([]);
    await expect(lineageOf(ws.meta.db, 'nope@v1', 'up')).rejects.toSatisfy((e) => isCairnError(e, 'NOT_FOUND'));
    await ws.close();
    const r = cli(['lineage', 'nope', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect((r.json as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('lineage edges are written in the same transaction as the version and its event', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const a = await add(ws, dir, 'a', 40);
    const c = await add(ws, dir, 'c', 41, ['a@v1']);
    const edges = await ws.meta.db.selectFrom('lineage_edges').selectAll().execute();
    expect(edges.map((e) => [e.src_type, e.src_id, e.dst_type, e.dst_id, e.relation, e.via_type, e.via_id])).toEqual([
      ['dataset_version', a.id, 'dataset_version', c.id, 'derived_from', null, null],
    ]);
    const version = await ws.meta.db
      .selectFrom('dataset_versions')
      .select('created_at')
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(edges[0]!.created_at).toBe(version.created_at);
    await ws.close();
  });

  it('shows a shared ancestry once, and draws the graph as Mermaid and DOT', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const a = await add(ws, dir, 'a', 1);
    const b = await add(ws, dir, 'b', 2, ['a@v1']);
    await add(ws, dir, 'c1', 3, ['b@v1']);
    await add(ws, dir, 'c2', 4, ['b@v1']);
    const d = await add(ws, dir, 'd', 5, ['c1@v1', 'c2@v1']);
    const g = await lineageOf(ws.meta.db, 'd@v1', 'up');
    expect(g.nodes).toHaveLength(5);
    const text = renderLineage(g).split('\n');
    // b's own ancestry (a) is printed under the first path only.
    expect(text.filter((l) => l.includes('a@v1'))).toHaveLength(1);
    expect(text.filter((l) => l.includes('b@v1 (shown above)'))).toHaveLength(1);
    expect(text).toHaveLength(6);
    const mermaid = lineageMermaid(g);
    expect(mermaid.split('\n')[0]).toBe('flowchart LR');
    expect(mermaid).toContain('"d@v1"]:::root');
    expect(mermaid.match(/-->\|derived_from\|/g)).toHaveLength(5);
    const dot = lineageDot(g);
    expect(dot).toMatch(/^digraph lineage \{/);
    expect(dot).toContain(`"dataset_version:${a.id}" -> "dataset_version:${b.id}" [label="derived_from"];`);
    expect(dot).toContain(`"dataset_version:${d.id}" [label="d@v1", shape=box, penwidth=3];`);
    expect(dot.match(/ -> /g)).toHaveLength(5);
    await ws.close();
  });
});
