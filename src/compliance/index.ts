// The compliance domain: the records a regulator, an auditor or a data-protection officer asks for,
// built from what the other domains recorded — the EU AI Act Annex IV dossier of a model version,
// legal holds and retention periods, and erasure of a version's bytes with its impact list
// (docs/COMPLIANCE.md). Other folders enter it only here.
import { writeDossier, type DossierResult } from './dossier/write.js';
import { eraseVersion, type EraseDeps, type EraseResult } from './erase.js';
import type { HoldView } from './holds.js';
import { listHolds, putHold, releaseHolds } from './retention.js';
import { eraseSubject, type SubjectEraseOptions, type SubjectEraseResult } from './subject-erase.js';

export type { DossierResult, EraseResult, HoldView, SubjectEraseOptions, SubjectEraseResult };
export type { Dossier, Gap, Section, Statement, Evidence } from './dossier/model.js';
export type { ImpactList } from './impact.js';
export type { RemoteErasure } from '../transfer/index.js';

export interface ComplianceService {
  /** Writes the Annex IV technical documentation of `<model>@<version>` into a new or empty folder. */
  dossier(ref: string, outDir: string): Promise<DossierResult>;
  /** A legal hold (no `retainUntil`) or a retention period on a dataset version or `model:name@vN`. */
  hold(ref: string, opts: { reason?: string; retainUntil?: string }): Promise<HoldView>;
  /** Lifts the active legal holds of a version (or one, by id). */
  releaseHold(ref: string, opts: { reason?: string; holdId?: string }): Promise<HoldView[]>;
  holds(ref?: string): Promise<HoldView[]>;
  /** Erases the bytes of a version (refused while held); returns the exact impact list. */
  erase(ref: string, opts: { reason?: string; localOnly?: boolean }): Promise<EraseResult>;
  /** Erases one subject's files from `<dataset>[@version]` and every version derived from it (or plans it: dryRun). */
  eraseSubject(ref: string, opts: SubjectEraseOptions): Promise<SubjectEraseResult>;
}

/** Transfer's ports too: erasure reaches the workspace's remotes (docs/COMPLIANCE.md). */
export type ComplianceDeps = EraseDeps;

export function createComplianceService(deps: ComplianceDeps): ComplianceService {
  return {
    dossier: (ref, outDir) => writeDossier(deps, ref, outDir),
    hold: (ref, opts) => putHold(deps, ref, opts),
    releaseHold: (ref, opts) => releaseHolds(deps, ref, opts),
    holds: (ref) => listHolds(deps, ref),
    erase: (ref, opts) => eraseVersion(deps, ref, opts),
    eraseSubject: (ref, opts) => eraseSubject(deps, ref, opts),
  };
}
