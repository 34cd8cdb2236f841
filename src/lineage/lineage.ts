import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { formatRef } from '../core/refs.js';
import { edgesFrom, edgesInto } from '../meta/repos/lineage.js';
import { resolveVersion } from '../datasets/index.js';
import type { ReadDb } from '../meta/read-db.js';

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

/** A lineage node in words: what it is (a version's ref, a run's name and state, …) and its digest. */
async function describeNode(db: ReadDb, type: string, id: string): Promise<LineageNode> {
  const key = `${type}:${id}`;
  const bare: LineageNode = { key, type, id, ref: key, digest: null };
  const describe = DESCRIBERS[type];
  const described = describe ? await describe(db, id) : null;
  return described ? { ...bare, ...described } : bare;
}

type Describer = (db: ReadDb, id: string) => Promise<Pick<LineageNode, 'ref' | 'digest'> | null>;

// Node kinds other than these keep their key as their ref.
const DESCRIBERS: Record<string, Describer> = {
  async dataset_version(db, id) {
    const v = await db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['d.name', 'v.number', 'v.digest'])
      .where('v.id', '=', id)
      .executeTakeFirst();
    return v ? { ref: formatRef(v.name, Number(v.number)), digest: formatDigest(v.digest) } : null;
  },
  async model_version(db, id) {
    const mv = await db
      .selectFrom('model_versions as v')
      .innerJoin('models as m', 'm.id', 'v.model_id')
      .select(['m.name', 'v.number', 'v.digest'])
      .where('v.id', '=', id)
      .executeTakeFirst();
    return mv ? { ref: `model ${mv.name}@v${mv.number}`, digest: `sha256:${mv.digest}` } : null;
  },
  async deployment(db, id) {
    const d = await db
      .selectFrom('deployments')
      .select(['env', 'status', 'ended_at', 'started_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return d ? { ref: `deployment to ${d.env} [${d.status}] ${d.ended_at ?? d.started_at}`, digest: null } : null;
  },
  async evaluation(db, id) {
    const e = await db
      .selectFrom('model_evaluations')
      .select(['suite', 'passed', 'at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return e ? { ref: `evaluation ${e.suite} [${e.passed ? 'passed' : 'failed'}] ${e.at}`, digest: null } : null;
  },
  async release(_db, id) {
    return { ref: `release signed by ${id.split(':')[0]}:${id.split(':')[1]?.slice(0, 12) ?? ''}…`, digest: null };
  },
  async run(db, id) {
    const r = await db
      .selectFrom('runs')
      .select(['name', 'status', 'code_commit', 'run_key'])
      .where('id', '=', id)
      .executeTakeFirst();
    return r
      ? {
          ref: `run ${r.name} ${id} [${r.status}${r.code_commit ? `, code ${r.code_commit.slice(0, 12)}` : ''}]`,
          digest: `sha256:${r.run_key}`,
        }
      : null;
  },
};

/**
 * Walks lineage edges breadth-first from a version: up to what it was built from, down to
 * everything built from it (e.g. all that must be re-examined if this data is erased). Node
 * kinds other than dataset versions appear as later capabilities record them.
 */
export async function lineageOf(
  db: ReadDb,
  ref: string,
  direction: 'up' | 'down' | 'both',
  maxDepth = 50,
): Promise<LineageGraph> {
  const start = await startNode(db, ref);
  const rootKey = start.key;
  const nodes = new Map<string, LineageNode>();
  nodes.set(rootKey, start);
  const walker = new Walk(db, nodes, maxDepth);
  const root = { type: start.type, id: start.id };
  if (direction !== 'down') await walker.walk(root, 'up');
  if (direction !== 'up') await walker.walk(root, 'down');
  return { root: rootKey, direction, nodes: [...nodes.values()], edges: walker.edges };
}

/**
 * Where a walk starts: a dataset version (`flights@v3`, `flights/train`), or a model version
 * given as `model:name@alias`, `model:name@vN` or `model:name` (its latest version).
 */
async function startNode(db: ReadDb, ref: string): Promise<LineageNode> {
  if (!ref.startsWith('model:')) {
    const v = await resolveVersion(db, ref);
    const key = `dataset_version:${v.version.id}`;
    return { key, type: 'dataset_version', id: v.version.id, ref: v.ref, digest: formatDigest(v.version.digest) };
  }
  const spec = ref.slice('model:'.length);
  const at = spec.lastIndexOf('@');
  const name = at < 0 ? spec : spec.slice(0, at);
  const which = at < 0 ? 'latest' : spec.slice(at + 1);
  const m = await db.selectFrom('models').select('id').where('name', '=', name).executeTakeFirst();
  if (!m)
    throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`, {
      hint: 'list them with cairn model ls',
    });
  let versionId: string | undefined;
  if (/^v\d+$/.test(which) || which === 'latest') {
    let q = db.selectFrom('model_versions').select('id').where('model_id', '=', m.id);
    q = which === 'latest' ? q.orderBy('number', 'desc') : q.where('number', '=', Number(which.slice(1)));
    versionId = (await q.limit(1).executeTakeFirst())?.id;
  } else {
    versionId = (
      await db
        .selectFrom('model_aliases')
        .select('version_id')
        .where('model_id', '=', m.id)
        .where('alias', '=', which)
        .executeTakeFirst()
    )?.version_id;
  }
  if (!versionId)
    throw new CairnError('NOT_FOUND', `model ${name} has no version ${which}`, {
      hint: `see cairn model versions ${name}`,
    });
  return describeNode(db, 'model_version', versionId);
}

/** One breadth-first walk's state: the nodes described so far and the edges seen, each once. */
class Walk {
  readonly edges: LineageEdge[] = [];
  readonly #seenEdges = new Set<string>();

  constructor(
    private readonly db: ReadDb,
    private readonly nodes: Map<string, LineageNode>,
    private readonly maxDepth: number,
  ) {}

  async #node(type: string, id: string): Promise<LineageNode> {
    const known = this.nodes.get(`${type}:${id}`);
    if (known) return known;
    const node = await describeNode(this.db, type, id);
    this.nodes.set(node.key, node);
    return node;
  }

  async walk(root: { type: string; id: string }, dir: 'up' | 'down'): Promise<void> {
    let frontier = [root];
    const visited = new Set<string>([`${root.type}:${root.id}`]);
    for (let depth = 0; depth < this.maxDepth && frontier.length; depth++) {
      const next: typeof frontier = [];
      for (const n of frontier) {
        const rows = dir === 'up' ? await edgesInto(this.db, n.type, n.id) : await edgesFrom(this.db, n.type, n.id);
        for (const e of rows) {
          const a = await this.#node(e.src_type, e.src_id);
          const b = await this.#node(e.dst_type, e.dst_id);
          if (!this.#seenEdges.has(e.id)) {
            this.#seenEdges.add(e.id);
            const via = e.via_type ? `${e.via_type}:${e.via_id}` : null;
            this.edges.push({ from: a.key, to: b.key, relation: e.relation, via });
          }
          const other = dir === 'up' ? { type: e.src_type, id: e.src_id } : { type: e.dst_type, id: e.dst_id };
          const k = `${other.type}:${other.id}`;
          if (!visited.has(k)) {
            visited.add(k);
            next.push(other);
          }
        }
      }
      frontier = next;
    }
  }
}

/**
 * Indented text: ancestors with ←, descendants with →. A node's own ancestors (or descendants)
 * are shown once: where it comes up again (three runs on the same split) it ends with
 * "(shown above)", and identical sibling lines are printed once with "×N".
 */
export function renderLineage(g: LineageGraph): string {
  const byKey = new Map(g.nodes.map((n) => [n.key, n]));
  const lines: string[] = [];
  const root = byKey.get(g.root)!;
  lines.push(`${root.ref}  ${root.digest ?? ''}`.trimEnd());
  const expanded = new Set<string>([g.root]);
  const render = (key: string, dir: 'up' | 'down', depth: number) => {
    const es = g.edges.filter((e) => (dir === 'up' ? e.to === key : e.from === key));
    const groups = new Map<string, { count: number; other: string }>();
    for (const e of es) {
      const other = byKey.get(dir === 'up' ? e.from : e.to)!;
      const text = `${'  '.repeat(depth)}${dir === 'up' ? '←' : '→'} ${e.relation} ${other.ref}${e.via ? ` (via ${e.via})` : ''}`;
      const g0 = groups.get(text);
      if (g0) g0.count++;
      else groups.set(text, { count: 1, other: other.key });
    }
    for (const [text, { count, other }] of groups) {
      const hasMore = g.edges.some((e) => (dir === 'up' ? e.to === other : e.from === other));
      const again = expanded.has(other) && hasMore;
      lines.push(`${text}${count > 1 ? ` ×${count}` : ''}${again ? ' (shown above)' : ''}`);
      if (!expanded.has(other)) {
        expanded.add(other);
        render(other, dir, depth + 1);
      }
    }
  };
  if (g.direction !== 'down') render(g.root, 'up', 1);
  if (g.direction !== 'up') {
    expanded.clear();
    expanded.add(g.root);
    render(g.root, 'down', 1);
  }
  if (lines.length === 1) lines.push('  (no recorded lineage)');
  return lines.join('\n');
}

/** The graph as a Mermaid flowchart (paste into Markdown on GitHub, GitLab, Notion…). */
export function lineageMermaid(g: LineageGraph): string {
  const id = new Map(g.nodes.map((n, i) => [n.key, `n${i}`]));
  const label = (s: string) => s.replace(/"/g, '#quot;');
  const out = ['flowchart LR'];
  for (const n of g.nodes) {
    const shape = n.type === 'run' ? ['([', '])'] : n.type === 'model_version' ? ['[[', ']]'] : ['[', ']'];
    out.push(`  ${id.get(n.key)}${shape[0]}"${label(n.ref)}"${shape[1]}${n.key === g.root ? ':::root' : ''}`);
  }
  for (const e of g.edges) out.push(`  ${id.get(e.from)} -->|${label(e.relation)}| ${id.get(e.to)}`);
  out.push('  classDef root stroke-width:3px');
  return out.join('\n');
}

/** The graph in Graphviz DOT (`cairn lineage … --dot | dot -Tsvg > lineage.svg`). */
export function lineageDot(g: LineageGraph): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const out = ['digraph lineage {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];'];
  for (const n of g.nodes) {
    const shape = n.type === 'run' ? 'ellipse' : n.type === 'model_version' ? 'box3d' : 'box';
    out.push(`  ${q(n.key)} [label=${q(n.ref)}, shape=${shape}${n.key === g.root ? ', penwidth=3' : ''}];`);
  }
  for (const e of g.edges) out.push(`  ${q(e.from)} -> ${q(e.to)} [label=${q(e.relation)}];`);
  out.push('}');
  return out.join('\n');
}
