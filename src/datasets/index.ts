// The datasets domain, and the base layer for versions: every other domain that reads or records
// versions (dataprep, transfer, compute, models, lineage, store-admin) builds on what this file
// exports. Nothing outside datasets/ imports its other files (lint: layers/imports).
import type { TreeLoader } from '../storage/tree/walk.js';
import { addVersion, type AddInput, type AddResult } from './add.js';
import { checkoutVersion, type CheckoutInput, type CheckoutResult } from './checkout.js';
import type { DatasetDeps } from './deps.js';
import { diffVersions, type DiffResult } from './diff.js';
import type { DatasetSummary } from '../meta/repos/datasets.js';
import { listAll, logOf, reportOf, showVersion, type ShownFile, type VersionInfo } from './queries.js';
import { statusOf, type StatusResult } from './status.js';
import { tagVersion, type TagResult } from './tag.js';

export type { AddInput, AddResult, CheckoutInput, CheckoutResult, DatasetDeps, DiffResult, DatasetSummary };
export type { ShownFile, StatusResult, TagResult, VersionInfo };

export interface StoredReport {
  ref: string;
  kind: string;
  digest: string;
  created: string;
  by: string;
  body: unknown;
}

/** What `cairn data …` (and a team server) can ask of datasets. */
export interface DatasetsService {
  add(input: AddInput): Promise<AddResult>;
  list(): Promise<DatasetSummary[]>;
  log(name: string): Promise<VersionInfo[]>;
  show(
    ref: string,
    /** `load`: where to read the version's trees when they are not in this store. */
    opts?: { limit?: number; load?: TreeLoader },
  ): Promise<VersionInfo & { listing: ShownFile[]; truncated: boolean; erased?: { at: string; by: string } }>;
  diff(from: string, to: string): Promise<DiffResult>;
  checkout(input: CheckoutInput): Promise<CheckoutResult>;
  tag(ref: string, tag: string, opts?: { force?: boolean }): Promise<TagResult>;
  status(
    path: string,
    name: string,
    opts?: { onProgress?: (bytes: number, total: number) => void },
  ): Promise<StatusResult>;
  report(ref: string, kind?: string): Promise<StoredReport>;
}

export function createDatasetsService(deps: DatasetDeps & { root?: string }): DatasetsService {
  return {
    add: (input) => addVersion(deps, input),
    list: () => listAll(deps),
    log: (name) => logOf(deps, name),
    show: (ref, opts) => showVersion(deps, ref, opts),
    diff: (a, b) => diffVersions(deps, a, b),
    checkout: (input) => checkoutVersion(deps, input),
    tag: (ref, tag, opts) => tagVersion(deps, ref, tag, opts),
    status: (path, name, opts) => statusOf(deps, path, name, opts),
    report: (ref, kind) => reportOf(deps, ref, kind),
  };
}

// The base layer for versions: what other domains build on.
export { addVersion, checkoutVersion, tagVersion };
export { resolveDataset, resolveVersion, type ResolvedVersion } from './resolve.js';
export { recordVersion, storeReport, type MadeBy, type NewVersion, type RecordedVersion } from './record.js';
export { treeLoader } from './trees.js';
export { checkMaterialized, materializedVersion, type CopyState } from './materialized.js';
export { materializeShared, sharedCacheDir } from './cluster-cache.js';
export { assertNotErased } from './erased.js';
export { extensionStats, type VersionStats } from './stats.js';
