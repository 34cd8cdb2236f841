import { parquetToCsv, type OutputFormat } from '../tables/write-csv.js';
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { formatDigest } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { checkDatasetName } from '../../core/names.js';
import { formatRef } from '../../core/refs.js';
import { recordVersion } from '../../datasets/index.js';
import { labelsOf } from '../files/checks.js';
import { DEFAULT_MANIFESTS, filterManifest } from '../files/labels.js';
import { fileLeakage } from '../leakage/file-leakage.js';
import { parseRatios, type SplitRatio } from '../split/ratios.js';
import { fileSplitReport, splitFiles } from '../split/split-files.js';
import type { SplitReport } from '../split/split-report.js';
import { DETECT_BYTES, looksBinary } from '../files/detect.js';
import { splitTable } from '../split/split-table.js';
import type { ComposeResult } from './compose-result.js';
import { composeFiles } from './compose-files.js';
import {
  asFileCollection,
  filesOf,
  viewVersion,
  withTable,
  withStoreLock,
  type DataprepDeps,
  type VersionView,
} from './context.js';
import { ingestOutput } from './ingest-dir.js';

export interface SplitOptions {
  name: string;
  ratios: string;
  seed?: number;
  key?: string[];
  stratify?: string;
  group?: string;
  time?: string;
  cutoff?: string;
  text?: string;
  /** For file collections: where labels / groups come from. */
  labels?: 'folder' | 'manifest';
  manifest?: string;
  allowLeakage?: boolean;
  file?: string;
  /** How table splits are written: `data.parquet` (default) or `data.csv`. */
  format?: OutputFormat;
}

export interface SplitResult {
  from: string;
  splits: Array<{ name: string; ref: string; digest: string; size: number }>;
  leakage: SplitReport['leakage'];
  allowedLeakage: boolean;
}

/**
 * Splits a version into `<name>/<split>` versions by the documented hash (docs/DATAPREP.md),
 * with a leakage report stored with each. Leakage errors refuse the split unless
 * `allowLeakage`, which the audit event records.
 */
export async function splitVersion(deps: DataprepDeps, ref: string, opts: SplitOptions): Promise<SplitResult> {
  return withStoreLock(deps, 'data split', () => splitVersionLocked(deps, ref, opts));
}

async function splitVersionLocked(deps: DataprepDeps, ref: string, opts: SplitOptions): Promise<SplitResult> {
  const base = checkDatasetName(opts.name);
  const ratios = parseRatios(opts.ratios);
  for (const r of ratios) checkDatasetName(`${base}/${r.name}`);
  const seed = opts.seed ?? 0;
  const view = asFileCollection(
    await viewVersion(deps, ref, opts.file),
    Boolean(opts.labels || opts.manifest),
    opts.file,
  );
  const v = view.resolved;
  const input = formatDigest(v.version.digest);
  const spec = { ...splitSpec(opts, ratios, seed), ...(opts.format === 'csv' ? { format: 'csv' } : {}) };
  return deps.audit.audited(
    {
      action: 'dataset.split',
      target: { type: 'dataset', name: base },
      inputs: [input],
      params: { ...spec, allowLeakage: opts.allowLeakage === true },
    },
    async (commit, draft) => {
      const contents: Contents = [];
      let report: SplitReport;
      const tmp = join(deps.cairnDir, 'tmp', `split-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        report = view.table
          ? await splitTableVersion(deps, view, opts, { ratios, seed, tmp }, contents)
          : await splitFileVersion(deps, view, opts, { ratios, seed }, contents);
      } catch (err) {
        // Splits already stored in packs must not outlive a later one's failure.
        await Promise.all(contents.map((c) => c.content.discard()));
        throw err;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      const discardAll = () => Promise.all(contents.map((c) => c.content.discard()));
      if (!report.leakage.ok && !opts.allowLeakage) {
        await discardAll();
        throw new CairnError(
          'CHECK_FAILED',
          `splitting ${v.ref} would leak data between splits: ${report.leakage.findings
            .filter((f) => (f as { severity?: string }).severity === 'error')
            .map((f) => (f as { message: string }).message)
            .join('; ')}`,
          {
            data: { leakage: report.leakage },
            hint: 'split by a key or group that keeps related rows together (--key, --group), or pass --allow-leakage to accept it (recorded in the audit log)',
          },
        );
      }
      try {
        const out = await commit(async (tx) => {
          const recorded = await recordSplits(tx, deps, {
            base,
            from: v,
            madeBy: { kind: 'split', name: 'split-options.json', body: canonicalJson({ from: input, ...spec }) },
            contents,
            report,
            allowLeakage: opts.allowLeakage === true,
          });
          draft.outputs = recorded.map((r) => r.digest);
          draft.params = { ...draft.params, leakageOk: report.leakage.ok, splits: recorded.map((r) => r.ref) };
          return recorded;
        });
        return {
          from: v.ref,
          splits: out,
          leakage: report.leakage,
          allowedLeakage: !report.leakage.ok && opts.allowLeakage === true,
        };
      } catch (err) {
        await discardAll();
        throw err;
      }
    },
  );
}

type Contents = Array<{ name: string; content: ComposeResult; size: number }>;

/** A table split into one Parquet file per split, each stored as a version's content. */
async function splitTableVersion(
  deps: DataprepDeps,
  view: VersionView,
  opts: SplitOptions,
  p: { ratios: SplitRatio[]; seed: number; tmp: string },
  contents: Contents,
): Promise<SplitReport> {
  const { ratios, seed, tmp } = p;
  mkdirSync(tmp, { recursive: true });
  const csv = opts.format === 'csv';
  const res = await withTable(deps, view, {}, async ({ engine, table }) => {
    const r = await splitTable(
      engine,
      table,
      {
        ratios,
        seed,
        ...(opts.key ? { key: opts.key } : {}),
        ...(opts.stratify ? { stratify: opts.stratify } : {}),
        ...(opts.group ? { group: opts.group } : {}),
        ...(opts.time ? { time: opts.time } : {}),
        ...(opts.cutoff ? { cutoff: opts.cutoff } : {}),
        ...(opts.text ? { text: opts.text } : {}),
      },
      tmp,
    );
    if (!csv) return r;
    for (const s of r.splits) {
      const file = `${s.file.replace(/\.parquet$/, '')}.csv`;
      await parquetToCsv(engine, s.file, file);
      s.file = file;
    }
    return r;
  });
  for (const s of res.splits) {
    const dir = join(tmp, `out-${s.name}`);
    mkdirSync(dir);
    const { renameSync } = await import('node:fs');
    renameSync(s.file, join(dir, csv ? 'data.csv' : 'data.parquet'));
    contents.push({ name: s.name, content: await ingestOutput(deps, dir), size: s.rows });
  }
  return res.report;
}

/** A file collection split by path (or label / group), each split with its own manifest. */
async function splitFileVersion(
  deps: DataprepDeps,
  view: VersionView,
  opts: SplitOptions,
  p: { ratios: SplitRatio[]; seed: number },
  contents: Contents,
): Promise<SplitReport> {
  const { ratios, seed } = p;
  const { files, read } = filesOf(deps, view);
  const labels =
    opts.stratify || opts.labels
      ? await labelsOf(
          files,
          {
            from: opts.labels ?? 'folder',
            ...(opts.manifest ? { manifest: opts.manifest } : {}),
            ...(opts.stratify && opts.stratify !== 'label' ? { column: opts.stratify } : {}),
          },
          read,
        )
      : null;
  const groups = opts.group
    ? await labelsOf(files, { from: 'manifest', manifest: opts.manifest ?? 'manifest.csv', column: opts.group }, read)
    : null;
  // The manifest itself is not split: each split gets its own, cut down to its files.
  const usesManifest = opts.labels === 'manifest' || Boolean(opts.group);
  const manifestPath = usesManifest
    ? (opts.manifest?.replace(/^\.\//, '') ??
      (opts.group && !opts.labels ? 'manifest.csv' : DEFAULT_MANIFESTS.find((m) => files.some((f) => f.path === m))))
    : undefined;
  const manifestFile = manifestPath ? files.find((f) => f.path === manifestPath) : undefined;
  const manifestText = manifestFile ? (await read(manifestFile.path)).toString('utf8') : null;
  const items = files
    .filter((f) => f !== manifestFile)
    .map((f) => ({
      ...f,
      ...(labels?.get(f.path) !== undefined ? { label: labels.get(f.path)! } : {}),
      ...(groups?.get(f.path) !== undefined ? { group: groups.get(f.path)! } : {}),
    }));
  const assigned = splitFiles(items, {
    ratios,
    seed,
    stratify: Boolean(opts.stratify),
    group: Boolean(opts.group),
  });
  const leakage = await fileLeakage(assigned, {
    group: Boolean(opts.group),
    // Texts take part in near-duplicate detection; binary files (images, audio) do not.
    read: async (f) => {
      const bytes = await read(f.path);
      return looksBinary(bytes.subarray(0, DETECT_BYTES)) ? null : bytes.toString('utf8');
    },
  });
  const report = fileSplitReport(
    assigned,
    { ratios, seed, stratify: Boolean(opts.stratify), group: Boolean(opts.group) },
    leakage,
  );
  const byPath = new Map(view.listing.files.map((f) => [f.path, f]));
  for (const r of ratios) {
    const members = (assigned.get(r.name) ?? []).map((f) => byPath.get(f.path)!);
    const own =
      manifestFile && manifestText !== null
        ? [
            {
              path: manifestFile.path,
              mode: byPath.get(manifestFile.path)!.entry.mode,
              bytes: Buffer.from(filterManifest(manifestFile.path, manifestText, new Set(members.map((m) => m.path)))),
            },
          ]
        : [];
    contents.push({ name: r.name, content: await composeFiles(deps, members, own), size: members.length });
  }
  return report;
}

/** Records each split as a version of `<base>/<split>`, with its lineage and the leakage report. */
async function recordSplits(
  tx: Parameters<typeof recordVersion>[0],
  deps: DataprepDeps,
  o: {
    base: string;
    from: VersionView['resolved'];
    madeBy: { kind: 'split'; name: string; body: string };
    contents: Contents;
    report: SplitReport;
    allowLeakage: boolean;
  },
): Promise<Array<{ name: string; ref: string; digest: string; size: number }>> {
  const { base, from: v, report } = o;
  const recorded = [];
  for (const c of o.contents) {
    const r = await recordVersion(tx, deps, {
      name: `${base}/${c.name}`,
      message: `split ${v.ref}: ${c.name}`,
      rootId: c.content.rootId,
      stats: c.content.stats,
      packs: c.content.packs,
      inputs: [{ versionId: v.version.id, relation: 'split_from' }],
      madeBy: o.madeBy,
      reports: [
        {
          kind: 'leakage',
          summary: { ok: report.leakage.ok, findings: report.leakage.findings.length, allowLeakage: o.allowLeakage },
          body: report,
        },
      ],
    });
    recorded.push({
      name: c.name,
      ref: formatRef(`${base}/${c.name}`, r.number),
      digest: formatDigest(c.content.rootId),
      size: c.size,
    });
  }
  return recorded;
}

/** The split's options as recorded in the audit event and the options document (pure). */
function splitSpec(opts: SplitOptions, ratios: SplitRatio[], seed: number) {
  return {
    ratios,
    seed,
    key: opts.key ?? null,
    stratify: opts.stratify ?? null,
    group: opts.group ?? null,
    time: opts.time ?? null,
    cutoff: opts.cutoff ?? null,
    text: opts.text ?? null,
    labels: opts.labels ?? null,
    manifest: opts.manifest ?? null,
  };
}
