import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { resolveVersion } from '../../datasets/index.js';
import type { RunDeps } from './deps.js';
import { codeFingerprint, type CodeFingerprint } from '../code/fingerprint.js';
import { applyOverrides, parseRunSpec, renderCommand, type RunSpec } from '../run-spec/run-spec.js';
import { runKey, type RunKeyInput } from '../run-spec/run-key.js';

export interface PreparedRun {
  spec: RunSpec;
  specPath: string;
  specDigest: string;
  codeDir: string;
  command: string;
  inputs: Array<{ name: string; ref: string; versionId: string; digest: string }>;
  keyInput: RunKeyInput;
  key: string;
  /** Per-file digests of the code (codeFingerprint's `files`), kept with the run for `run plan`. */
  codeFiles: CodeFingerprint['files'];
  /** The git commit the code was at (recorded with the run even when declared code paths keep it out of the key). */
  headCommit: string | null;
}

/**
 * Reads and checks a spec and everything it names — before anything is submitted: unknown
 * keys, missing inputs, a missing code folder or lockfile are errors here, all at once.
 */
export async function prepareRun(
  deps: PrepareDeps,
  specPath: string,
  opts: { sets?: string[]; backend?: 'local' | 'slurm' } = {},
): Promise<PreparedRun> {
  const path = resolve(specPath);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CairnError(
      'NOT_FOUND',
      `cannot read the run spec ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`,
      { hint: 'pass a spec file, e.g. cairn run cairn.yaml' },
    );
  }
  if (/^stages\s*:/m.test(text) && !/^command\s*:/m.test(text))
    throw new CairnError('USAGE', `${path} holds a pipeline (stages:), not a single run`, {
      hint: 'run its stages with cairn repro [stage]; draw it with cairn dag',
    });
  let spec = applyOverrides(parseRunSpec(text, path), opts.sets ?? []);
  if (opts.backend) spec = { ...spec, backend: opts.backend };
  return prepareSpec(deps, spec, { path, digest: sha256Hex(text) });
}

export type PrepareDeps = Pick<RunDeps, 'meta' | 'cairnDir' | 'cacheDir'> & {
  compute: Pick<RunDeps['compute'], 'inputCache'>;
};

/**
 * Resolves a parsed spec (a file's, or a pipeline stage's): its inputs, code fingerprint and
 * run key. `code` memoizes fingerprints across the stages of one pipeline that share their code.
 */
export async function prepareSpec(
  deps: PrepareDeps,
  spec: RunSpec,
  at: { path: string; digest: string; codeCache?: Map<string, CodeFingerprint> },
): Promise<PreparedRun> {
  const path = at.path;
  const problems: string[] = [];
  const codeDir = resolve(dirname(path), spec.code);
  if (!existsSync(codeDir)) problems.push(`code: the folder ${codeDir} does not exist`);
  const inputs: PreparedRun['inputs'] = [];
  for (const p of spec.codePaths ?? [])
    if (!existsSync(resolve(codeDir, p))) problems.push(`code: ${p} does not exist under ${codeDir}`);
  for (const [name, ref] of Object.entries(spec.inputs)) {
    try {
      const v = await resolveVersion(deps.meta.db, ref);
      inputs.push({ name, ref: v.ref, versionId: v.version.id, digest: v.version.digest });
    } catch (err) {
      problems.push(`inputs.${name}: ${(err as Error).message}`);
    }
  }
  let lockfile: string | null = null;
  if (spec.environment.lockfile) {
    try {
      lockfile = sha256Hex(readFileSync(resolve(codeDir, spec.environment.lockfile)));
    } catch {
      problems.push(`environment.lockfile: cannot read ${resolve(codeDir, spec.environment.lockfile)}`);
    }
  }
  let command = '';
  try {
    command = renderCommand(spec);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length) {
    throw new CairnError('INVALID_INPUT', `the run spec ${path} cannot run:\n  ${problems.join('\n  ')}`, {
      data: { problems },
      hint: 'fix the spec (or pass --set); nothing was submitted',
    });
  }
  // The workspace and the input cache change with every command and every run: never code.
  const exclude = [deps.cairnDir, deps.cacheDir, deps.compute.inputCache].map((d) => resolve(d));
  const fpKey = `${codeDir}\0${(spec.codePaths ?? []).join('\0')}`;
  const fp =
    at.codeCache?.get(fpKey) ??
    (existsSync(codeDir)
      ? codeFingerprint(codeDir, { exclude, ...(spec.codePaths ? { only: spec.codePaths } : {}) })
      : { commit: null, dirty: null, files: null });
  at.codeCache?.set(fpKey, fp);
  const keyInput: RunKeyInput = {
    command,
    // With declared code paths the commit is left out: an unrelated commit changes nothing.
    code: spec.codePaths
      ? { commit: null, dirty: fp.scoped ?? fp.dirty, paths: spec.codePaths }
      : { commit: fp.commit, dirty: fp.dirty },
    inputs: Object.fromEntries(inputs.map((i) => [i.name, i.digest])),
    params: spec.params,
    environment: { image: spec.environment.image ?? null, lockfile, vars: spec.environment.vars },
  };
  return {
    spec,
    specPath: path,
    specDigest: at.digest,
    codeDir,
    command,
    inputs,
    keyInput,
    key: runKey(keyInput),
    codeFiles: fp.files,
    headCommit: fp.commit,
  };
}
