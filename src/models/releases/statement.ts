import { parseDigest } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { checkDatasetName } from '../../core/names.js';
import { relPathProblem } from '../../core/paths.js';

/**
 * The release's provenance: an in-toto Statement v1 whose subjects are the model files and whose
 * predicate is SLSA Provenance v1, describing the Cairn run that produced them. See
 * docs/RELEASES.md for every field.
 */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The buildType: how to read externalParameters and internalParameters of a Cairn run. */
export const CAIRN_RUN_BUILD_TYPE = 'https://cairn.dev/run/v1';

export type ParamValue = string | number | boolean | null;

/** Everything the statement says, as plain data the caller gathers from the metadata database. */
export interface ReleaseFacts {
  /** The model version being released (for the caller's bookkeeping; the manifest names it). */
  model: { name: string; version: number };
  /** The model files, paths relative to the model folder (`model/` in a bundle). */
  files: Array<{ path: string; sha256: string }>;
  run: {
    /** The run id; becomes runDetails.metadata.invocationId. */
    id: string;
    /** The run spec's name and project, when it has them. */
    name?: string;
    project?: string;
    command: string;
    params: Record<string, ParamValue>;
    backend: string;
    resources: Record<string, number>;
    /** RFC 3339 timestamps (or Dates). */
    startedOn: string | Date;
    finishedOn: string | Date;
  };
  /** Dataset versions the run read, keyed by the run spec's input name. */
  inputs: Array<{ name: string; dataset: string; version: number; sha256: string }>;
  /**
   * The code fingerprint of the run (see src/compute/code/fingerprint.ts): the git commit, and a
   * SHA-256 of the uncommitted changes (or, outside git, of the whole tree).
   */
  code: { commit: string | null; dirty: string | null; repository?: string };
  environment: {
    /** Container image reference; `digest` pins it (taken from `ref@sha256:…` when omitted). */
    image?: { ref: string; digest?: string };
    lockfile?: { path: string; sha256: string };
  };
  /** Who ran the build: the workspace's identity (its audit-log origin). Should be a URI. */
  builder: { id: string; version?: Record<string, string> };
}

export type DigestSet = Record<string, string>;

/** in-toto ResourceDescriptor (only the fields Cairn writes). */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: DigestSet;
  annotations?: Record<string, string>;
}

export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string> };
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
  };
}

export interface Subject {
  name: string;
  digest: { sha256: string } & DigestSet;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: ProvenancePredicate;
}

const GIT_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

function invalid(message: string, data: Record<string, unknown> = {}): CairnError {
  return new CairnError('INVALID_INPUT', `release statement: ${message}`, { data });
}

function nonEmpty(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${what} must be a non-empty string`);
  return value;
}

function timestamp(value: string | Date, what: string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(`${what} is an invalid date`);
    return value.toISOString();
  }
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw invalid(`${what} must be an RFC 3339 timestamp, got ${JSON.stringify(value)}`);
  }
  return value;
}

function sha256Of(value: string, what: string): string {
  try {
    return parseDigest(value);
  } catch {
    throw invalid(`${what} is not a SHA-256 digest: ${JSON.stringify(value)}`);
  }
}

/** `cairn:dataset/<name>@v<n>`: the URI of a dataset version in resolvedDependencies. */
export function datasetUri(name: string, version: number): string {
  checkDatasetName(name);
  if (!Number.isSafeInteger(version) || version < 1)
    throw invalid(`dataset version must be a positive integer, got ${String(version)}`);
  return `cairn:dataset/${name}@v${version}`;
}

/** The image digest: the one given, else the `@sha256:` part of the reference, else none. */
function imageDigest(image: { ref: string; digest?: string }): string | null {
  if (image.digest !== undefined) return sha256Of(image.digest, 'environment.image.digest');
  const at = image.ref.lastIndexOf('@sha256:');
  return at < 0 ? null : sha256Of(image.ref.slice(at + 1), 'the digest in environment.image.ref');
}

/**
 * The model files as subjects: name = path inside the model folder, digest = SHA-256. Sorted by
 * name; unsafe paths and duplicates are refused.
 */
export function subjectsOf(files: ReadonlyArray<{ path: string; sha256: string }>): Subject[] {
  if (!Array.isArray(files) || files.length === 0) throw invalid('a release needs at least one model file');
  const seen = new Set<string>();
  const out: Subject[] = [];
  for (const f of files) {
    const problem = relPathProblem(f.path);
    if (problem)
      throw new CairnError('PATH_UNSAFE', `refusing model file path ${JSON.stringify(f.path)}: ${problem}`, {
        data: { path: f.path },
      });
    if (seen.has(f.path)) throw invalid(`model file ${JSON.stringify(f.path)} is listed twice`);
    seen.add(f.path);
    out.push({ name: f.path, digest: { sha256: sha256Of(f.sha256, `the digest of ${f.path}`) } });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** resolvedDependencies: datasets (by input name), then code, then environment. */
function dependenciesOf(facts: ReleaseFacts): ResourceDescriptor[] {
  const deps: ResourceDescriptor[] = [];
  const names = new Set<string>();
  for (const input of [...facts.inputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    nonEmpty(input.name, 'an input name');
    if (names.has(input.name)) throw invalid(`input ${JSON.stringify(input.name)} is listed twice`);
    names.add(input.name);
    deps.push({
      name: `input:${input.name}`,
      uri: datasetUri(input.dataset, input.version),
      digest: { sha256: sha256Of(input.sha256, `the digest of input ${input.name}`) },
    });
  }
  const { commit, dirty, repository } = facts.code;
  if (commit !== null) {
    if (!GIT_COMMIT.test(commit))
      throw invalid(`code.commit must be a full lowercase git commit id, got ${JSON.stringify(commit)}`);
    deps.push({ name: 'code', ...(repository ? { uri: `git+${repository}` } : {}), digest: { gitCommit: commit } });
    if (dirty !== null) {
      deps.push({
        name: 'code:uncommitted',
        digest: { sha256: sha256Of(dirty, 'code.dirty') },
        annotations: {
          description: 'SHA-256 over `git diff HEAD --binary` and the untracked files (Cairn code fingerprint)',
        },
      });
    }
  } else if (dirty !== null) {
    deps.push({
      name: 'code:tree',
      digest: { sha256: sha256Of(dirty, 'code.dirty') },
      annotations: {
        description: 'SHA-256 over every file name, size and content of the code folder (not a git repository)',
      },
    });
  } else {
    throw invalid('code needs a commit, a tree digest or both');
  }
  const { image, lockfile } = facts.environment;
  if (image) {
    const digest = imageDigest(image);
    deps.push({
      name: 'environment:image',
      uri: `docker://${nonEmpty(image.ref, 'environment.image.ref')}`,
      ...(digest ? { digest: { sha256: digest } } : {}),
    });
  }
  if (lockfile) {
    deps.push({
      name: 'environment:lockfile',
      digest: { sha256: sha256Of(lockfile.sha256, 'environment.lockfile.sha256') },
      annotations: { path: nonEmpty(lockfile.path, 'environment.lockfile.path') },
    });
  }
  return deps;
}

/**
 * The in-toto Statement v1 with a SLSA Provenance v1 predicate for a model version. Pure: the same
 * facts always give the same statement (arrays sorted, timestamps kept as given).
 */
export function buildStatement(facts: ReleaseFacts): Statement {
  const { run } = facts;
  const params: Record<string, ParamValue> = {};
  for (const k of Object.keys(run.params).sort()) {
    const v = run.params[k];
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v))
      throw invalid(`run param ${k} must be a string, number, boolean or null`);
    params[k] = v ?? null;
  }
  const inputs: Record<string, string> = {};
  for (const i of [...facts.inputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    inputs[i.name] = datasetUri(i.dataset, i.version);
  const resources: Record<string, number> = {};
  for (const [k, v] of Object.entries(run.resources).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`resource ${k} must be a finite number`);
    resources[k] = v;
  }
  const builder = {
    id: nonEmpty(facts.builder.id, 'builder.id'),
    ...(facts.builder.version ? { version: { ...facts.builder.version } } : {}),
  };
  return {
    _type: STATEMENT_TYPE,
    subject: subjectsOf(facts.files),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: CAIRN_RUN_BUILD_TYPE,
        externalParameters: {
          ...(run.name ? { name: run.name } : {}),
          ...(run.project ? { project: run.project } : {}),
          command: nonEmpty(run.command, 'run.command'),
          params,
          inputs,
        },
        internalParameters: { backend: nonEmpty(run.backend, 'run.backend'), resources },
        resolvedDependencies: dependenciesOf(facts),
      },
      runDetails: {
        builder,
        metadata: {
          invocationId: nonEmpty(run.id, 'run.id'),
          startedOn: timestamp(run.startedOn, 'run.startedOn'),
          finishedOn: timestamp(run.finishedOn, 'run.finishedOn'),
        },
      },
    },
  };
}

/**
 * Reads a statement back from a DSSE payload, checking only what a verifier relies on: the two type
 * URIs and well-formed subjects. Throws INVALID_INPUT with the reason.
 */
export function parseStatement(payload: Uint8Array): Statement {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw invalid('the payload is not UTF-8 JSON');
  }
  const s = doc as Partial<Statement> | null;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw invalid('the payload is not a JSON object');
  if (s._type !== STATEMENT_TYPE) throw invalid(`_type is ${JSON.stringify(s._type)}, expected ${STATEMENT_TYPE}`);
  if (s.predicateType !== SLSA_PROVENANCE_V1)
    throw invalid(`predicateType is ${JSON.stringify(s.predicateType)}, expected ${SLSA_PROVENANCE_V1}`);
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw invalid('subject must be a non-empty array');
  for (const sub of s.subject as unknown[]) {
    const x = sub as Partial<Subject> | null;
    if (
      typeof x !== 'object' ||
      x === null ||
      typeof x.name !== 'string' ||
      typeof x.digest !== 'object' ||
      x.digest === null ||
      typeof x.digest.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(x.digest.sha256)
    ) {
      throw invalid('every subject needs a name and a sha256 digest of 64 lowercase hex characters');
    }
  }
  if (typeof s.predicate !== 'object' || s.predicate === null) throw invalid('predicate must be an object');
  return s as Statement;
}
