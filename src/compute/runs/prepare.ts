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
}

/**
 * Reads and checks a spec and everything it names — before anything is submitted: unknown
 * keys, missing inputs, a missing code folder or lockfile are errors here, all at once.
 */
export async function prepareRun(
  deps: Pick<RunDeps, 'meta' | 'cairnDir' | 'cacheDir'> & { compute: Pick<RunDeps['compute'], 'inputCache'> },
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
  let spec = applyOverrides(parseRunSpec(text, path), opts.sets ?? []);
  if (opts.backend) spec = { ...spec, backend: opts.backend };
  const problems: string[] = [];
  const codeDir = resolve(dirname(path), spec.code);
  if (!existsSync(codeDir)) problems.push(`code: the folder ${codeDir} does not exist`);
  const inputs: PreparedRun['inputs'] = [];
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
  const fp = existsSync(codeDir) ? codeFingerprint(codeDir, { exclude }) : { commit: null, dirty: null, files: null };
  const keyInput: RunKeyInput = {
    command,
    code: { commit: fp.commit, dirty: fp.dirty },
    inputs: Object.fromEntries(inputs.map((i) => [i.name, i.digest])),
    params: spec.params,
    environment: { image: spec.environment.image ?? null, lockfile, vars: spec.environment.vars },
  };
  return {
    spec,
    specPath: path,
    specDigest: sha256Hex(text),
    codeDir,
    command,
    inputs,
    keyInput,
    key: runKey(keyInput),
    codeFiles: fp.files,
  };
}
