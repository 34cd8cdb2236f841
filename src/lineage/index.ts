// The lineage domain: where a version came from and what was built from it, across datasets,
// runs, models, evaluations, releases and deployments. Other folders enter it only here.
import {
  lineageDot,
  lineageMermaid,
  lineageOf,
  renderLineage,
  type LineageEdge,
  type LineageGraph,
  type LineageNode,
} from './lineage.js';
import type { ReadDb } from '../meta/read-db.js';

export type { LineageEdge, LineageGraph, LineageNode };
export { lineageDot, lineageMermaid, renderLineage };

/** What `cairn lineage` (and a team server) can ask. */
export interface LineageService {
  /** The graph around a dataset version or a model version (`model:name@alias`): ancestors (`up`), descendants (`down`) or both. */
  of(ref: string, direction: 'up' | 'down' | 'both'): Promise<LineageGraph>;
}

export function createLineageService(deps: { meta: { db: ReadDb } }): LineageService {
  return { of: (ref, direction) => lineageOf(deps.meta.db, ref, direction) };
}
