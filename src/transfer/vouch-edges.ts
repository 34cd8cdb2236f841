import type { RemoteState } from './state.js';
import { eachOwnEvent } from './log-events.js';

/**
 * Lineage edges between dataset versions that verified logs record, as `src|dst|relation|via`
 * (digests `sha256:…`; via: the recipe's digest or empty): the `dataset.clean` / `dataset.split`
 * event that made the output from its input, or the `remote.pull` / `workspace.clone` event of a
 * workspace that imported such an edge (`params.importedEdges`, so edges pass on).
 */
export type EdgeVouchers = Set<string>;

/** An edge between dataset versions, named by digests: what a pull event records of the edges it imported. */
export interface ImportedEdge {
  src: string;
  dst: string;
  relation: string;
  via: string | null;
}

/** An edge refused: the ids it claimed to connect and why. */
export interface UnvouchedEdge {
  id: string;
  src: string;
  dst: string;
  relation: string;
  why: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const RELEVANT = /"action":"(?:dataset\.clean|dataset\.split|remote\.pull|workspace\.clone)"/;
const edgeKey = (e: ImportedEdge) => `${e.src}|${e.dst}|${e.relation}|${e.via ?? ''}`;
const digests = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && DIGEST.test(x)) : [];

type EdgeEvent = {
  index?: unknown;
  workspace?: unknown;
  action?: unknown;
  outcome?: unknown;
  inputs?: unknown;
  outputs?: unknown;
  params?: { recipeDigest?: unknown; importedEdges?: unknown };
};

/** Adds the edges one verified log records (only `ok` events of its own workspace). Pure. */
export function collectEdgeVouchers(into: EdgeVouchers, log: { workspace: string }, entries: readonly string[]): void {
  eachOwnEvent<EdgeEvent>(entries, log.workspace, RELEVANT, (e) => {
    if (e.outcome !== 'ok') return;
    const made = (relation: string, via: string | null) => {
      for (const src of digests(e.inputs))
        for (const dst of digests(e.outputs)) into.add(edgeKey({ src, dst, relation, via }));
    };
    if (e.action === 'dataset.clean') {
      const recipe = e.params?.recipeDigest;
      made('cleaned_from', typeof recipe === 'string' && DIGEST.test(recipe) ? recipe.slice(7) : null);
    } else if (e.action === 'dataset.split')
      made('split_from', null); // its options document is not logged
    else if (Array.isArray(e.params?.importedEdges))
      for (const x of e.params.importedEdges as Array<Partial<ImportedEdge>>) {
        if (!x || typeof x.src !== 'string' || typeof x.dst !== 'string' || typeof x.relation !== 'string') continue;
        into.add(
          edgeKey({ src: x.src, dst: x.dst, relation: x.relation, via: typeof x.via === 'string' ? x.via : null }),
        );
      }
  });
}

type Edge = RemoteState['lineage'][number];

/**
 * The lineage edges of a planned import that what comes in vouches for (docs/REMOTES.md "Trust"):
 * - dataset version → dataset version: a verified event records it (EdgeVouchers), by digests;
 * - dataset version → run (`input:<name>`) and run → dataset version (`output`): the run is imported
 *   now (its row vouched by its events) and its stored inputs, or its output, say exactly so;
 * - files or run → model version (`files`, `trained`): the model version comes in (vouched with
 *   its files and run) and names exactly that files version or run.
 * Every other edge (to a row that is not there, one no log or vouched row records, another
 * relation) is refused. Edges already here are left as they are. Pure.
 */
export function planEdges(
  state: RemoteState,
  vouchers: EdgeVouchers,
  here: { versions: ReadonlyMap<string, string>; edges: ReadonlySet<string> },
): { lineage: Edge[]; imported: ImportedEdge[]; skipped: UnvouchedEdge[] } {
  const digestOf = new Map(here.versions);
  for (const v of state.versions) digestOf.set(v.id, v.digest);
  const runs = new Map(state.runs.map((r) => [r.id, r]));
  const models = new Map(state.modelVersions.map((m) => [m.id, m]));
  const lineage: Edge[] = [];
  const imported: ImportedEdge[] = [];
  const skipped: UnvouchedEdge[] = [];
  for (const e of state.lineage) {
    if (here.edges.has(e.id)) continue;
    const why = edgeFault(e, { digestOf, runs, models, vouchers });
    if (why) {
      skipped.push({
        id: e.id,
        src: `${e.src_type}:${e.src_id}`,
        dst: `${e.dst_type}:${e.dst_id}`,
        relation: e.relation,
        why,
      });
      continue;
    }
    lineage.push(e);
    if (e.src_type === 'dataset_version' && e.dst_type === 'dataset_version') imported.push(datasetEdge(e, digestOf));
  }
  return { lineage, imported, skipped };
}

function datasetEdge(e: Edge, digestOf: ReadonlyMap<string, string>): ImportedEdge {
  return {
    src: `sha256:${digestOf.get(e.src_id)}`,
    dst: `sha256:${digestOf.get(e.dst_id)}`,
    relation: e.relation,
    // A clean's recipe is logged (its digest); a split's options document is not.
    via: e.relation === 'split_from' ? null : e.via_id,
  };
}

/** Why an edge is not vouched for, or null. Pure. */
function edgeFault(
  e: Edge,
  c: {
    digestOf: ReadonlyMap<string, string>;
    runs: ReadonlyMap<string, RemoteState['runs'][number]>;
    models: ReadonlyMap<string, RemoteState['modelVersions'][number]>;
    vouchers: EdgeVouchers;
  },
): string | null {
  const version = (id: string) => c.digestOf.has(id);
  if (e.src_type === 'dataset_version' && !version(e.src_id)) return 'its source version is not here';
  if (e.dst_type === 'dataset_version' && !version(e.dst_id)) return 'its target version is not here';
  if (e.src_type === 'dataset_version' && e.dst_type === 'dataset_version') {
    if (e.relation === 'cleaned_from' && e.via_type !== 'recipe') return 'it names no recipe';
    return c.vouchers.has(edgeKey(datasetEdge(e, c.digestOf))) ? null : 'no event of a verified audit log records it';
  }
  // Run endpoints are here or imported now (keepRuns); a registration edge is the model row's.
  if (e.dst_type === 'model_version' && e.src_type === 'run' && e.relation === 'trained')
    return c.models.get(e.dst_id)?.run_id === e.src_id ? null : 'the model version records another run';
  if (e.dst_type === 'run' || e.src_type === 'run') {
    const run = c.runs.get(e.dst_type === 'run' ? e.dst_id : e.src_id);
    if (!run) return 'its run does not come in with it';
    if (e.dst_type === 'run' && e.src_type === 'dataset_version' && e.relation.startsWith('input:')) {
      const name = e.relation.slice('input:'.length);
      return runInputs(run).some((i) => i.versionId === e.src_id && i.name === name)
        ? null
        : 'the run records no such input';
    }
    if (e.src_type === 'run' && e.dst_type === 'dataset_version' && e.relation === 'output')
      return run.output_version_id === e.dst_id ? null : 'the run records another output';
    return 'a run edge no run records';
  }
  if (e.dst_type === 'model_version' && e.src_type === 'dataset_version' && e.relation === 'files')
    return c.models.get(e.dst_id)?.files_version_id === e.src_id ? null : 'the model version holds other files';
  return 'no imported row records it';
}

function runInputs(run: RemoteState['runs'][number]): Array<{ versionId?: unknown; name?: unknown }> {
  try {
    const spec = JSON.parse(run.spec) as { inputs?: unknown };
    return Array.isArray(spec.inputs) ? (spec.inputs as Array<{ versionId?: unknown; name?: unknown }>) : [];
  } catch {
    return [];
  }
}

/** What an import event records of the edges: those imported (by digests, so they pass on) and those refused. */
export function edgeParams(edges: { imported: ImportedEdge[]; skipped: UnvouchedEdge[] }): Record<string, unknown> {
  return {
    ...(edges.imported.length ? { importedEdges: edges.imported } : {}),
    ...(edges.skipped.length ? { skippedEdges: edges.skipped } : {}),
  };
}
