// /lineage?ref=…: the graph from data through runs to models, laid out by elkjs, in both directions.
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api.js';
import { Show, useData } from '../data.js';
import { Link, navigate, qs, type Location } from '../router.js';
import type { ElkNode } from 'elkjs/lib/elk-api.js';

interface Graph {
  root: string;
  nodes: Array<{ key: string; type: string; id: string; ref: string; digest: string | null }>;
  edges: Array<{ from: string; to: string; relation: string; via: string | null }>;
}
interface Placed {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number; w: number; h: number }>;
  edges: Array<{ from: string; to: string; relation: string; points: Array<{ x: number; y: number }> }>;
}

const NODE_H = 40;

export function LineagePage(props: { loc: Location }) {
  const ref = props.loc.query.get('ref') ?? '';
  const direction = (props.loc.query.get('direction') ?? 'both') as 'up' | 'down' | 'both';
  const [draft, setDraft] = useState(ref);
  const [g] = useData(
    () => (ref ? call<Graph>('lineage.of', { query: { ref, direction } }) : Promise.resolve(null)),
    [ref, direction],
  );
  return (
    <>
      <h1>Lineage</h1>
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/lineage${qs({ ref: draft, direction })}`);
        }}
      >
        <label for="lineage-ref">Version</label>
        <input
          id="lineage-ref"
          value={draft}
          placeholder="flights@v1 or model:flight-late@production"
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        />
        <label>
          Direction{' '}
          <select
            value={direction}
            onChange={(e) => navigate(`/lineage${qs({ ref, direction: (e.target as HTMLSelectElement).value })}`)}
          >
            <option value="up">up: where it came from</option>
            <option value="down">down: what depends on it</option>
            <option value="both">both</option>
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      {ref ? (
        <Show v={g} what={`lineage of ${ref}`}>
          {(graph) => (graph ? <Drawn g={graph} /> : null)}
        </Show>
      ) : (
        <p class="muted">Name a dataset version (flights@v1) or a model version (model:flight-late@production).</p>
      )}
    </>
  );
}

function Drawn(props: { g: Graph }) {
  const { g } = props;
  const [placed, setPlaced] = useState<Placed | null>(null);
  useEffect(() => {
    let live = true;
    void layout(g).then((p) => live && setPlaced(p));
    return () => {
      live = false;
    };
  }, [g]);
  return (
    <>
      <p class="muted">
        {g.nodes.length} nodes, {g.edges.length} edges. Arrows point from inputs to what was made of them.
      </p>
      {placed ? (
        <div class="scroll">
          <svg
            class="lineage"
            width={placed.width}
            height={placed.height}
            role="group"
            aria-label={`lineage graph of ${g.nodes.find((n) => n.key === g.root)?.ref ?? g.root}`}
          >
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
                <path d="M0,0 L10,5 L0,10 z" fill="#666" />
              </marker>
            </defs>
            {placed.edges.map((e, i) => (
              <g key={i}>
                <polyline
                  points={e.points.map((p) => `${p.x},${p.y}`).join(' ')}
                  fill="none"
                  stroke="#888"
                  marker-end="url(#arrow)"
                />
                <title>{e.relation}</title>
              </g>
            ))}
            {g.nodes.map((n) => {
              const p = placed.nodes.get(n.key);
              if (!p) return null;
              return (
                <a key={n.key} href={hrefOf(n)} onClick={(ev) => follow(ev, hrefOf(n))}>
                  <rect
                    x={p.x}
                    y={p.y}
                    width={p.w}
                    height={p.h}
                    rx="6"
                    class={`node ${n.type}${n.key === g.root ? ' root' : ''}`}
                  />
                  <text x={p.x + 8} y={p.y + 16} class="node-type">
                    {n.type.replace('_', ' ')}
                  </text>
                  <text x={p.x + 8} y={p.y + 32}>
                    {short(n.ref)}
                  </text>
                  <title>{n.ref}</title>
                </a>
              );
            })}
          </svg>
        </div>
      ) : (
        <p class="muted">Laying out…</p>
      )}
      <h2>As a list</h2>
      <ul>
        {g.edges.map((e, i) => {
          const a = g.nodes.find((n) => n.key === e.from);
          const b = g.nodes.find((n) => n.key === e.to);
          return (
            <li key={i}>
              {a ? <Link href={hrefOf(a)}>{a.ref}</Link> : e.from} —{e.relation}→{' '}
              {b ? <Link href={hrefOf(b)}>{b.ref}</Link> : e.to}
            </li>
          );
        })}
      </ul>
    </>
  );
}

function follow(ev: MouseEvent, href: string) {
  if (ev.button !== 0 || ev.metaKey || ev.ctrlKey) return;
  ev.preventDefault();
  navigate(href);
}

function short(s: string): string {
  return s.length > 38 ? `${s.slice(0, 36)}…` : s;
}

function hrefOf(n: Graph['nodes'][number]): string {
  if (n.type === 'run') return `/runs/${n.id}`;
  if (n.type === 'model_version') {
    const m = /^model (.+)@v\d+$/.exec(n.ref);
    return m ? `/models/${encodeURIComponent(m[1]!)}` : `/lineage${qs({ ref: n.ref })}`;
  }
  if (n.type === 'dataset_version') {
    const at = n.ref.lastIndexOf('@');
    if (at > 0) return `/datasets/${encodeURIComponent(n.ref.slice(0, at))}/${n.ref.slice(at + 1)}`;
  }
  return `/lineage${qs({ ref: n.ref })}`;
}

async function layout(g: Graph): Promise<Placed> {
  // elkjs is large: loaded only when a graph is drawn.
  const { default: ELK } = await import('elkjs/lib/elk.bundled.js');
  const elk = new ELK();
  const width = (n: Graph['nodes'][number]) => Math.max(140, Math.min(38, n.ref.length) * 7 + 20);
  const keys = new Set(g.nodes.map((n) => n.key));
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.edgeRouting': 'POLYLINE',
    },
    children: g.nodes.map((n) => ({ id: n.key, width: width(n), height: NODE_H })),
    edges: g.edges
      .filter((e) => keys.has(e.from) && keys.has(e.to))
      .map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  };
  const out = await elk.layout(graph);
  const nodes = new Map<string, { x: number; y: number; w: number; h: number }>();
  for (const c of out.children ?? []) nodes.set(c.id, { x: c.x ?? 0, y: c.y ?? 0, w: c.width ?? 0, h: c.height ?? 0 });
  const edges = (out.edges ?? []).map((e, i) => {
    const s = e.sections?.[0];
    const src = g.edges.filter((x) => keys.has(x.from) && keys.has(x.to))[i]!;
    return {
      from: src.from,
      to: src.to,
      relation: src.relation,
      points: s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : [],
    };
  });
  return { width: (out.width ?? 0) + 20, height: (out.height ?? 0) + 20, nodes, edges };
}
