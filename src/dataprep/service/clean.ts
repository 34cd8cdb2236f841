import { parquetToCsv, type OutputFormat } from '../tables/write-csv.js';
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { formatDigest } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { checkDatasetName } from '../../core/names.js';
import { formatRef } from '../../core/refs.js';
import { recordVersion } from '../../datasets/index.js';
import { planFileClean } from '../files/clean.js';
import { readSpecFile } from '../../core/yaml-doc.js';
import { parseRecipe, type Recipe } from '../spec-files/recipe.js';
import { runRecipe } from '../tables/clean/run-recipe.js';
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

export interface CleanResult {
  ref: string;
  digest: string;
  from: string;
  recipe: string;
  recipeDigest: string;
  report: unknown;
}

export function readRecipe(path: string): { recipe: Recipe; text: string } {
  const text = readSpecFile(path, 'the recipe');
  return { recipe: parseRecipe(text, basename(path)), text };
}

/**
 * Applies a recipe and records the result as the next version of `name`, with lineage to the
 * input via the recipe's digest. A failing step leaves nothing behind: output is written to a
 * temporary folder and packs, and metadata is committed only at the end.
 */
export async function cleanVersion(
  deps: DataprepDeps,
  ref: string,
  opts: { recipePath: string; name: string; message?: string; file?: string; format?: OutputFormat },
): Promise<CleanResult> {
  return withStoreLock(deps, 'data clean', () => cleanVersionLocked(deps, ref, opts));
}

async function cleanVersionLocked(
  deps: DataprepDeps,
  ref: string,
  opts: { recipePath: string; name: string; message?: string; file?: string; format?: OutputFormat },
): Promise<CleanResult> {
  const name = checkDatasetName(opts.name);
  const { recipe, text } = readRecipe(opts.recipePath);
  const view = asFileCollection(
    await viewVersion(deps, ref, opts.file),
    recipe.steps.length === 0 && recipe.files.length > 0,
    opts.file,
  );
  const v = view.resolved;
  const input = formatDigest(v.version.digest);
  if (view.table && recipe.steps.length === 0)
    throw new CairnError('INVALID_INPUT', `the recipe ${recipe.name} has no table steps, and ${v.ref} is a table`);
  if (!view.table && recipe.files.length === 0)
    throw new CairnError(
      'INVALID_INPUT',
      `the recipe ${recipe.name} has no file steps, and ${v.ref} is a file collection`,
    );
  return deps.audit.audited(
    {
      action: 'dataset.clean',
      target: { type: 'dataset', name },
      inputs: [input],
      params: { recipe: recipe.name, ...(opts.format === 'csv' ? { format: 'csv' } : {}) },
    },
    async (commit, draft) => {
      const { content, report } = await cleanContent(deps, view, recipe, opts.format ?? 'parquet');
      try {
        const rec = await commit(async (tx) => {
          const r = await recordVersion(tx, deps, {
            name,
            message: opts.message ?? `clean ${v.ref} with ${recipe.name}`,
            rootId: content.rootId,
            stats: content.stats,
            packs: content.packs,
            inputs: [{ versionId: v.version.id, relation: 'cleaned_from' }],
            madeBy: { kind: 'recipe', name: basename(opts.recipePath), body: text },
            reports: [{ kind: 'clean', summary: { recipe: recipe.name, from: v.ref }, body: report }],
          });
          draft.target = { type: 'dataset', name, version: r.number, digest: formatDigest(content.rootId) };
          draft.outputs = [formatDigest(content.rootId)];
          draft.params = { ...draft.params, recipeDigest: formatDigest(r.madeByDigest!), from: v.ref };
          return r;
        });
        return {
          ref: formatRef(name, rec.number),
          digest: formatDigest(content.rootId),
          from: v.ref,
          recipe: recipe.name,
          recipeDigest: formatDigest(rec.madeByDigest!),
          report,
        };
      } catch (err) {
        await content.discard();
        throw err;
      }
    },
  );
}

/** Writes the cleaned content into packs; the caller records it, or discards it when recording fails. */
async function cleanContent(
  deps: DataprepDeps,
  view: VersionView,
  recipe: Recipe,
  format: OutputFormat,
): Promise<{ content: ComposeResult; report: unknown }> {
  const tmp = join(deps.cairnDir, 'tmp', `clean-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    if (view.table) {
      mkdirSync(tmp, { recursive: true });
      const report = await withTable(deps, view, {}, async ({ engine, table }) => {
        const outFile = join(tmp, 'data.parquet');
        const r = await runRecipe(engine, table, recipe, { hmacKey: deps.pseudonymKey(), outFile });
        if (format === 'csv') await parquetToCsv(engine, outFile, join(tmp, 'data.csv'));
        return r;
      });
      return { content: await ingestOutput(deps, tmp), report };
    }
    const { files, read } = filesOf(deps, view);
    const plan = await planFileClean(files, recipe.files, read);
    const byPath = new Map(view.listing.files.map((f) => [f.path, f]));
    const redacted = new Set(plan.redacted.map((r) => r.path));
    const keep = plan.keep.filter((f) => !redacted.has(f.path)).map((f) => byPath.get(f.path)!);
    const content = await composeFiles(
      deps,
      keep,
      plan.redacted.map((r) => ({ path: r.path, mode: byPath.get(r.path)!.entry.mode, bytes: r.bytes })),
    );
    return { content, report: { ...plan.report, dropped: plan.dropped } };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
