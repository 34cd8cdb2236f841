import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { formatDigest, sha256Hex } from '../../core/digest.js';
import { CairnError, ioError } from '../../core/errors.js';
import { storeReport } from '../../datasets/index.js';
import { resolveVersion } from '../../datasets/index.js';
import { latestReport, putDocument } from '../../meta/repos/reports.js';
import { isoUtc } from '../../core/time.js';
import { runFileChecks } from '../files/checks.js';
import type { ValidationReport } from '../validation-report.js';
import { toHtml } from '../reports/html.js';
import { toJUnit } from '../reports/junit.js';
import { readSpecFile } from '../../core/yaml-doc.js';
import { parseSuite, type Suite } from '../spec-files/suite.js';
import { profileTable, type TableProfile } from '../tables/profile.js';
import { runSuite } from '../tables/validate/run-suite.js';
import { suiteSchema } from '../tables/validate/suite-schema.js';
import {
  asFileCollection,
  filesOf,
  viewVersion,
  withTable,
  withStoreLock,
  type DataprepDeps,
  type VersionView,
} from './context.js';

export interface ValidateOptions {
  suitePath: string;
  file?: string;
  junit?: string;
  html?: string;
  /**
   * Also profile the version in the same command (one load of the table, one engine) and store
   * the profile with it, as `data profile` would; a drift check naming this same version then
   * compares against that fresh profile instead of loading the table a second time.
   */
  profile?: boolean;
}

export function readSuite(path: string): { suite: Suite; text: string } {
  const text = readSpecFile(path, 'the suite');
  return { suite: parseSuite(text, basename(path)), text };
}

/** The stored profile of a version, computing and storing one if it has none. */
async function storedOrNewProfile(
  deps: DataprepDeps,
  ref: string,
  r: Awaited<ReturnType<typeof resolveVersion>>,
): Promise<{ ref: string; profile: TableProfile }> {
  const stored = await latestReport(deps.meta.db, r.version.id, 'profile');
  if (stored) {
    const body = JSON.parse(stored.body) as TableProfile;
    if (body.format === 'cairn.profile/v1') return { ref: r.ref, profile: body };
  }
  const { profileVersion } = await import('./profile.js');
  const p = await profileVersion(deps, ref);
  if (p.kind !== 'table') throw new CairnError('INVALID_INPUT', `the drift reference ${ref} is not a table`);
  return { ref: r.ref, profile: p.profile as TableProfile };
}

/**
 * Runs a suite over a version (table checks in one scan, or file checks) and stores the report
 * with the version, in the same transaction as the audit event — whose outcome is `failed`
 * when an error-severity check failed.
 */
export async function validateVersion(
  deps: DataprepDeps,
  ref: string,
  opts: ValidateOptions,
): Promise<ValidationReport> {
  return withStoreLock(deps, 'data validate', () => validateVersionLocked(deps, ref, opts));
}

async function validateVersionLocked(
  deps: DataprepDeps,
  ref: string,
  opts: ValidateOptions,
): Promise<ValidationReport> {
  const { suite, text } = readSuite(opts.suitePath);
  const view = asFileCollection(
    await viewVersion(deps, ref, opts.file),
    suite.checks.length === 0 && suite.files.length > 0,
    opts.file,
  );
  const v = view.resolved;
  const digest = formatDigest(v.version.digest);
  const suiteDigest = sha256Hex(text);
  return deps.audit.audited(
    {
      action: 'dataset.validate',
      target: { type: 'dataset', name: v.dataset.name, version: v.version.number, digest },
      inputs: [digest],
      params: { suite: suite.name, suiteDigest: formatDigest(suiteDigest) },
    },
    async (commit, draft) => {
      let report: ValidationReport;
      let profile: TableProfile | undefined;
      if (view.table) {
        const r = await validateTable(deps, view, suite, opts.profile === true);
        report = r.report;
        profile = r.profile;
      } else {
        if (suite.files.length === 0)
          throw new CairnError(
            'INVALID_INPUT',
            `the suite ${suite.name} has no file checks, and ${v.ref} is a file collection`,
          );
        const { files, read } = filesOf(deps, view);
        report = await runFileChecks(files, suite.files, read, { target: v.ref, suite: suite.name });
      }
      if (opts.junit) writeOut(opts.junit, toJUnit(report));
      if (opts.html) writeOut(opts.html, toHtml(report));
      const summary = {
        suite: suite.name,
        ok: report.ok,
        errors: report.errors,
        warnings: report.warnings,
        checks: report.checks.length,
      };
      await commit(
        async (tx) => {
          await putDocument(tx, {
            digest: suiteDigest,
            kind: 'suite',
            name: basename(opts.suitePath),
            body: text,
            created_at: isoUtc(deps.clock.now()),
          });
          const d = await storeReport(tx, deps, v.version.id, {
            kind: 'validation',
            summary: { ...summary, suiteDigest: formatDigest(suiteDigest) },
            body: report,
          });
          const p = profile ? await storeProfile(tx, deps, v.version.id, profile) : undefined;
          draft.params = { ...draft.params, ...summary, report: formatDigest(d), ...(p ? { profile: p } : {}) };
        },
        report.ok
          ? undefined
          : { outcome: 'failed', reason: `CHECK_FAILED: ${report.errors} error-severity check(s) failed` },
      );
      return report;
    },
  );
}

/**
 * The table branch of validate: the suite's checks in one scan, and with `withProfile` the
 * profile from the same loaded table (the drift reference too, when it names this version).
 */
async function validateTable(
  deps: DataprepDeps,
  view: VersionView,
  suite: Suite,
  withProfile: boolean,
): Promise<{ report: ValidationReport; profile?: TableProfile }> {
  const v = view.resolved;
  if (suite.checks.length === 0)
    throw new CairnError('INVALID_INPUT', `the suite ${suite.name} has no table checks, and ${v.ref} is a table`);
  const drift = suite.checks.find((c) => c.kind === 'drift');
  let refVersion = drift && drift.kind === 'drift' ? await resolveVersion(deps.meta.db, drift.reference) : undefined;
  // The drift reference is this very version: its profile comes from this load.
  const selfReference = withProfile && refVersion?.version.digest === v.version.digest;
  if (selfReference) refVersion = undefined;
  const reference =
    drift && drift.kind === 'drift' && refVersion
      ? await storedOrNewProfile(deps, drift.reference, refVersion)
      : undefined;
  const schema = suiteSchema(suite);
  return withTable(deps, view, schema ? { schema, missingSchemaColumns: 'ignore' } : {}, async ({ engine, table }) => {
    const profile = withProfile ? await profileTable(engine, table) : undefined;
    const ref = selfReference && profile ? { ref: v.ref, profile } : reference;
    const report = await runSuite(engine, table, suite, {
      target: v.ref,
      ...(ref ? { reference: ref } : {}),
      now: deps.clock.now(),
    });
    return { report, ...(profile ? { profile } : {}) };
  });
}

/** Stores a profile computed by validate with the version, as `data profile` does. */
async function storeProfile(
  tx: Parameters<typeof storeReport>[0],
  deps: DataprepDeps,
  versionId: string,
  profile: TableProfile,
): Promise<string> {
  const summary = { kind: 'table', rows: profile.rows, columns: profile.columns.length };
  return formatDigest(await storeReport(tx, deps, versionId, { kind: 'profile', summary, body: profile }));
}

/** A report file the user asked for; a path that cannot be written is an I/O error, not a bug. */
function writeOut(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw ioError(err, 'write', path);
  }
}

export function reportDigestOf(report: ValidationReport): string {
  return sha256Hex(canonicalJson(report));
}
