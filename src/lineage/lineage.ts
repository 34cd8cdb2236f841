import type { Kysely } from 'kysely';
import { formatDigest } from '../core/digest.js';
import { formatRef } from '../core/refs.js';
import { edgesFrom, edgesInto } from '../meta/repos/lineage.js';
import type { Database } from '../meta/schema.js';
import { resolveVersion } from '../datasets/index.js';

export interface LineageNode {
  key: string;
  type: string;
  id: string;
  ref: string;
  digest: string | null;
}

export interface LineageEdge {
  from: string;
  to: string;
  relation: string;
  via: string | null;
}

export interface LineageGraph {
  root: string;
  direction: 'up' | 'down' | 'both';
  nodes: LineageNode[];
  edges: LineageEdge[];
}

/**
 * Walks lineage edges breadth-first from a version: up to what it was built from, down to
 * everything built from it (e.g. all that must be re-examined if this data is erased). Node
 * kinds other than dataset versions appear as later capabilities record them.
 */
export async function lineageOf(
  db: Kysely<Database>,
  ref: string,
  direction: 'up' | 'down' | 'both',
  maxDepth = 50,
): Promise<LineageGraph> {
  const start = await resolveVersion(db, ref);
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const seenEdges = new Set<string>();
  const rootKey = `dataset_version:${start.version.id}`;
  nodes.set(rootKey, {
    key: rootKey,
    type: 'dataset_version',
    id: start.version.id,
    ref: start.ref,
    digest: formatDigest(start.version.digest),
  });
  const describe = async (type: string, id: string): Promise<LineageNode> => {
    const key = `${type}:${id}`;
    const known = nodes.get(key);
    if (known) return known;
    let node: LineageNode = { key, type, id, ref: key, digest: null };
    if (type === 'dataset_version') {
      const v = await db
        .selectFrom('dataset_versions as v')
        .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
        .select(['d.name', 'v.number', 'v.digest'])
        .where('v.id', '=', id)
        .executeTakeFirst();
      if (v) node = { key, type, id, ref: formatRef(v.name, Number(v.number)), digest: formatDigest(v.digest) };
    } else if (type === 'model_version') {
      const mv = await db
        .selectFrom('model_versions as v')
        .innerJoin('models as m', 'm.id', 'v.model_id')
        .select(['m.name', 'v.number', 'v.digest'])
        .where('v.id', '=', id)
        .executeTakeFirst();
      if (mv) node = { key, type, id, ref: `model ${mv.name}@v${mv.number}`, digest: `sha256:${mv.digest}` };
    } else if (type === 'deployment') {
      const d = await db
        .selectFrom('deployments')
        .select(['env', 'status', 'ended_at', 'started_at'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (d)
        node = {
          key,
          type,
          id,
          ref: `deployment to ${d.env} [${d.status}] ${d.ended_at ?? d.started_at}`,
          digest: null,
        };
    } else if (type === 'evaluation') {
      const e = await db
        .selectFrom('model_evaluations')
        .select(['suite', 'passed', 'at'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (e)
        node = {
          key,
          type,
          id,
          ref: `evaluation ${e.suite} [${e.passed ? 'passed' : 'failed'}] ${e.at}`,
          digest: null,
        };
    } else if (type === 'release') {
      node = {
        key,
        type,
        id,
        ref: `release signed by ${id.split(':')[0]}:${id.split(':')[1]?.slice(0, 12) ?? ''}…`,
        digest: null,
      };
    } else if (type === 'run') {
      const r = await db
        .selectFrom('runs')
        .select(['name', 'status', 'code_commit', 'run_key'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (r)
        node = {
          key,
          type,
          id,
          ref: `run ${r.name} ${id} [${r.status}${r.code_commit ? `, code ${r.code_commit.slice(0, 12)}` : ''}]`,
          digest: `sha256:${r.run_key}`,
        };
    }
    nodes.set(key, node);
    return node;
  };
  const walk = async (dir: 'up' | 'down') => {
    let frontier = [{ type: 'dataset_version', id: start.version.id }];
    const visited = new Set<string>([rootKey]);
    for (let depth = 0; depth < maxDepth && frontier.length; depth++) {
      const next: typeof frontier = [];
      for (const n of frontier) {
        const rows = dir === 'up' ? await edgesInto(db, n.type, n.id) : await edgesFrom(db, n.type, n.id);
        for (const e of rows) {
          const other = dir === 'up' ? { type: e.src_type, id: e.src_id } : { type: e.dst_type, id: e.dst_id };
          const a = await describe(e.src_type, e.src_id);
          const b = await describe(e.dst_type, e.dst_id);
          if (!seenEdges.has(e.id)) {
            seenEdges.add(e.id);
            edges.push({
              from: a.key,
              to: b.key,
              relation: e.relation,
              via: e.via_type ? `${e.via_type}:${e.via_id}` : null,
            });
          }
          const k = `${other.type}:${other.id}`;
          if (!visited.has(k)) {
            visited.add(k);
            next.push(other);
          }
        }
      }
      frontier = next;
    }
  };
  if (direction !== 'down') await walk('up');
  if (direction !== 'up') await walk('down');
  return { root: rootKey, direction, nodes: [...nodes.values()], edges };
}

/** Indented text: ancestors with ←, descendants with →. */
export function renderLineage(g: LineageGraph): string {
  const byKey = new Map(g.nodes.map((n) => [n.key, n]));
  const lines: string[] = [];
  const root = byKey.get(g.root)!;
  lines.push(`${root.ref}  ${root.digest ?? ''}`.trimEnd());
  const render = (key: string, dir: 'up' | 'down', depth: number, seen: Set<string>) => {
    const es = g.edges.filter((e) => (dir === 'up' ? e.to === key : e.from === key));
    for (const e of es) {
      const other = byKey.get(dir === 'up' ? e.from : e.to)!;
      lines.push(
        `${'  '.repeat(depth)}${dir === 'up' ? '←' : '→'} ${e.relation} ${other.ref}${e.via ? ` (via ${e.via})` : ''}`,
      );
      if (!seen.has(other.key)) render(other.key, dir, depth + 1, new Set([...seen, other.key]));
    }
  };
  if (g.direction !== 'down') render(g.root, 'up', 1, new Set([g.root]));
  if (g.direction !== 'up') render(g.root, 'down', 1, new Set([g.root]));
  if (lines.length === 1) lines.push('  (no recorded lineage)');
  return lines.join('\n');
}
