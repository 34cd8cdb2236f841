import { writeFileSync } from 'node:fs';
import { formatDigest, sha256Hex } from '../../core/digest.js';
import { CairnError, ioError } from '../../core/errors.js';
import { inferSuite } from '../tables/infer-suite.js';
import { profileTable } from '../tables/profile.js';
import { viewVersion, withTable, withStoreLock, type DataprepDeps } from './context.js';

/** Writes a starting suite inferred from a version (to `out`, or returns the text). */
export async function inferSuiteFor(
  deps: DataprepDeps,
  ref: string,
  opts: { out?: string; file?: string } = {},
): Promise<{ ref: string; suite: string; digest: string; out: string | null }> {
  return withStoreLock(deps, 'data suite infer', () => inferSuiteForLocked(deps, ref, opts));
}

async function inferSuiteForLocked(
  deps: DataprepDeps,
  ref: string,
  opts: { out?: string; file?: string } = {},
): Promise<{ ref: string; suite: string; digest: string; out: string | null }> {
  const view = await viewVersion(deps, ref, opts.file);
  const v = view.resolved;
  if (!view.table)
    throw new CairnError('INVALID_INPUT', `${v.ref} is a file collection; suite inference works on tables`, {
      hint: 'write a `files:` suite by hand (docs/DATAPREP.md)',
    });
  const digest = formatDigest(v.version.digest);
  return deps.audit.audited(
    {
      action: 'dataset.suite.infer',
      target: { type: 'dataset', name: v.dataset.name, version: v.version.number, digest },
      inputs: [digest],
    },
    async (commit, draft) => {
      const text = await withTable(deps, view, {}, async ({ engine, table }) =>
        inferSuite(await profileTable(engine, table), { name: `${v.dataset.name}-suite` }),
      );
      if (opts.out) {
        try {
          writeFileSync(opts.out, text);
        } catch (err) {
          throw ioError(err, 'write', opts.out);
        }
      }
      const suiteDigest = formatDigest(sha256Hex(text));
      await commit(async () => {
        draft.params = { suiteDigest, written: opts.out !== undefined };
      });
      return { ref: v.ref, suite: text, digest: suiteDigest, out: opts.out ?? null };
    },
  );
}
