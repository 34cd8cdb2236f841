// The data-preparation domain: profile, validate, infer a suite, clean and split versions (tables
// through DuckDB, file collections through their listings). Nothing outside dataprep/ imports its
// other files (lint: layers/imports).
import { cleanVersion, type CleanResult } from './service/clean.js';
import type { DataprepDeps } from './service/context.js';
import { diffTableVersions, type TableDiff, type TableDiffOptions } from './service/diff.js';
import { inferSuiteFor } from './service/infer.js';
import { profileVersion, type FilesProfile, type ProfileResult } from './service/profile.js';
import { splitVersion, type SplitOptions, type SplitResult } from './service/split.js';
import { validateVersion, type ValidateOptions } from './service/validate.js';
import type { CheckResult, ValidationReport } from './validation-report.js';
import type { TableProfile } from './tables/profile.js';

export type { CheckResult, CleanResult, DataprepDeps, FilesProfile, ProfileResult, SplitOptions, SplitResult };
export type { TableDiff, TableDiffOptions, TableProfile, ValidateOptions, ValidationReport };

export interface CleanOptions {
  recipePath: string;
  /** The dataset the result becomes the next version of. */
  name: string;
  message?: string;
  file?: string;
  /** Tables: write `data.parquet` (default) or `data.csv`. */
  format?: 'parquet' | 'csv';
}

export interface InferredSuite {
  ref: string;
  /** The suite's YAML text. */
  suite: string;
  digest: string;
  /** Where it was written, or null when only returned. */
  out: string | null;
}

/** What `cairn data profile|validate|suite infer|clean|split` (and a team server) can ask of data preparation. */
export interface DataPrepService {
  profile(ref: string, opts?: { file?: string }): Promise<ProfileResult>;
  /** The report is stored with the version; `ok` is false when an error-severity check failed. */
  validate(ref: string, opts: ValidateOptions): Promise<ValidationReport>;
  inferSuite(ref: string, opts?: { out?: string; file?: string }): Promise<InferredSuite>;
  clean(ref: string, opts: CleanOptions): Promise<CleanResult>;
  split(ref: string, opts: SplitOptions): Promise<SplitResult>;
  /** Schema and row-level changes between two table versions; null when either is not a table. */
  diffTables(from: string, to: string, opts?: TableDiffOptions): Promise<TableDiff | null>;
}

export function createDataPrepService(deps: DataprepDeps): DataPrepService {
  return {
    profile: (ref, opts) => profileVersion(deps, ref, opts),
    validate: (ref, opts) => validateVersion(deps, ref, opts),
    inferSuite: (ref, opts) => inferSuiteFor(deps, ref, opts),
    clean: (ref, opts) => cleanVersion(deps, ref, opts),
    split: (ref, opts) => splitVersion(deps, ref, opts),
    diffTables: (from, to, opts) => diffTableVersions(deps, from, to, opts),
  };
}

// For store-admin (fsck, gc): whether a typed-table cache entry still matches what it was built from.
export { checkTableEntry } from './tables/table-cache.js';

// For compliance (erasure by subject): the PII scanner and the table engine find a subject's
// records in tables and texts, and write a table without their rows.
export { scanText } from './pii/scan.js';
export type { PiiKind } from './pii/patterns.js';
export { ident, lit, openEngine, type TableEngine } from './tables/engine.js';
