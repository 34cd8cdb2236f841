import type { LineageGraph } from '../lineage/index.js';

/** Everything built from an erased version, by kind: what its owner must decide to retrain or withdraw. */
export interface ImpactList {
  datasets: Array<{ ref: string; digest: string | null }>;
  runs: Array<{ id: string; ref: string }>;
  models: Array<{ ref: string; digest: string | null }>;
  evaluations: Array<{ id: string; ref: string }>;
  releases: Array<{ id: string; ref: string }>;
  deployments: Array<{ id: string; ref: string }>;
}

/**
 * The impact list from the lineage graphs walked down from each erased version (pure): every
 * node but the roots themselves, grouped by kind, each once, in a stable order.
 */
export function impactOf(graphs: readonly LineageGraph[]): ImpactList {
  const roots = new Set(graphs.map((g) => g.root));
  const seen = new Map<string, LineageGraph['nodes'][number]>();
  for (const g of graphs) for (const n of g.nodes) if (!roots.has(n.key)) seen.set(n.key, n);
  const nodes = [...seen.values()].sort((a, b) => a.ref.localeCompare(b.ref) || a.key.localeCompare(b.key));
  const of = (type: string) => nodes.filter((n) => n.type === type);
  return {
    datasets: of('dataset_version').map((n) => ({ ref: n.ref, digest: n.digest })),
    runs: of('run').map((n) => ({ id: n.id, ref: n.ref })),
    models: of('model_version').map((n) => ({ ref: n.ref, digest: n.digest })),
    evaluations: of('evaluation').map((n) => ({ id: n.id, ref: n.ref })),
    releases: of('release').map((n) => ({ id: n.id, ref: n.ref })),
    deployments: of('deployment').map((n) => ({ id: n.id, ref: n.ref })),
  };
}

export function impactCount(i: ImpactList): number {
  return (
    i.datasets.length +
    i.runs.length +
    i.models.length +
    i.evaluations.length +
    i.releases.length +
    i.deployments.length
  );
}
