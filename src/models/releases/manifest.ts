import { canonicalJsonBytes } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { relPathProblem } from '../../core/paths.js';

/** The bundle format, written in manifest.json. */
export const RELEASE_FORMAT = 'cairn.release/v1';
/** DSSE payloadType of manifest.dsse.json, whose payload is exactly the bytes of manifest.json. */
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.cairn.release-manifest+json';

/** Bundle-relative names with a fixed meaning. */
export const BUNDLE_FILES = {
  manifest: 'manifest.json',
  manifestSignature: 'manifest.dsse.json',
  provenance: 'provenance.dsse.json',
  publicKey: 'public-key.pem',
  verifierKey: 'public-key.vkey',
  cardMarkdown: 'model-card.md',
  cardJson: 'model-card.json',
  readme: 'README.md',
  omsSignature: 'model.sig',
  omsPublicKey: 'public-key-oms.pem',
  /** The release-key transitions from the first release key to the one that signed (after a rotation). */
  keyChain: 'key-chain.json',
} as const;
export const MODEL_DIR = 'model';
export const EVALUATIONS_DIR = 'evaluations';
export const PROOFS_DIR = 'proofs';

/** The two files the manifest cannot list: itself and its signature. */
export const UNLISTED_FILES: ReadonlySet<string> = new Set([BUNDLE_FILES.manifest, BUNDLE_FILES.manifestSignature]);

export interface ManifestFile {
  /** Bundle-relative POSIX path. */
  path: string;
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  size: number;
}

export interface ReleaseManifest {
  format: typeof RELEASE_FORMAT;
  model: { name: string; version: number };
  /** Every file of the bundle but manifest.json and manifest.dsse.json, sorted by path. */
  files: ManifestFile[];
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what this must find
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Why a bundle path is unsafe, or null. The core rules (relative, no `..`, `.` or empty segments,
 * no NUL) plus no backslash (a separator on Windows) and no control characters (so that
 * `sha256sum -c` and line-based tools read manifest paths unambiguously).
 */
export function releasePathProblem(p: string): string | null {
  const core = relPathProblem(p);
  if (core) return core;
  if (p.includes('\\')) return 'it contains a backslash';
  if (CONTROL.test(p)) return 'it contains a control character';
  return null;
}

export function checkReleasePath(p: string, what = 'path'): string {
  const problem = releasePathProblem(p);
  if (problem)
    throw new CairnError('PATH_UNSAFE', `refusing ${what} ${JSON.stringify(p)}: ${problem}`, { data: { path: p } });
  return p;
}

/** One file name (evaluation report, proof): letters, digits, `.`, `_`, `-`; `.json` is appended when missing. */
export function jsonFileName(name: string, what: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name) || name.includes('..')) {
    throw new CairnError(
      'PATH_UNSAFE',
      `refusing ${what} name ${JSON.stringify(name)}: use letters, digits, . _ - (starting with a letter or digit)`,
      { data: { name } },
    );
  }
  return name.endsWith('.json') ? name : `${name}.json`;
}

function byPath(a: ManifestFile, b: ManifestFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** The manifest's exact bytes: RFC 8785 canonical JSON, files sorted by path, no final newline. */
export function manifestBytes(manifest: ReleaseManifest): Buffer {
  const seen = new Set<string>();
  for (const f of manifest.files) {
    checkReleasePath(f.path, 'manifest path');
    if (UNLISTED_FILES.has(f.path)) throw new CairnError('INVALID_INPUT', `the manifest cannot list ${f.path}`);
    if (seen.has(f.path)) throw new CairnError('INVALID_INPUT', `the manifest lists ${f.path} twice`);
    seen.add(f.path);
  }
  return canonicalJsonBytes({ ...manifest, files: [...manifest.files].sort(byPath) });
}

export interface ParsedManifest {
  manifest: ReleaseManifest;
  /** Entries whose path is unsafe or repeated, or whose digest/size is malformed; never to be opened. */
  rejected: Array<{ path: string; message: string }>;
}

/**
 * Parses manifest.json. Throws INVALID_INPUT when it is not a manifest at all and UNSUPPORTED for
 * another format; entries that are individually wrong come back in `rejected` so the verifier can
 * name them and go on with the rest.
 */
export function parseManifest(text: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CairnError('INVALID_INPUT', 'manifest.json is not JSON');
  }
  const m = doc as Partial<ReleaseManifest> | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    throw new CairnError('INVALID_INPUT', 'manifest.json is not a JSON object');
  if (m.format !== RELEASE_FORMAT)
    throw new CairnError('UNSUPPORTED', `unknown release bundle format ${JSON.stringify(m.format)}`, {
      hint: `this Cairn reads ${RELEASE_FORMAT}`,
    });
  const model = m.model as Partial<ReleaseManifest['model']> | undefined;
  if (
    typeof model !== 'object' ||
    model === null ||
    typeof model.name !== 'string' ||
    !Number.isSafeInteger(model.version)
  ) {
    throw new CairnError('INVALID_INPUT', 'manifest.json needs model.name and model.version');
  }
  if (!Array.isArray(m.files)) throw new CairnError('INVALID_INPUT', 'manifest.json needs a files array');
  const files: ManifestFile[] = [];
  const rejected: ParsedManifest['rejected'] = [];
  const seen = new Set<string>();
  for (const raw of m.files as unknown[]) {
    const f = raw as Partial<ManifestFile> | null;
    const path = typeof f?.path === 'string' ? f.path : String(f?.path);
    const problem = releasePathProblem(path);
    if (problem) {
      rejected.push({ path, message: `refusing manifest path ${JSON.stringify(path)}: ${problem}` });
    } else if (UNLISTED_FILES.has(path)) {
      rejected.push({ path, message: `the manifest may not list ${path}` });
    } else if (seen.has(path)) {
      rejected.push({ path, message: `the manifest lists ${path} more than once` });
    } else if (
      typeof f?.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(f.sha256) ||
      !Number.isSafeInteger(f.size) ||
      (f.size as number) < 0
    ) {
      rejected.push({
        path,
        message: `the manifest entry for ${path} needs a sha256 of 64 lowercase hex characters and a size`,
      });
    } else {
      files.push({ path, sha256: f.sha256, size: f.size as number });
    }
    seen.add(path);
  }
  return {
    manifest: { format: RELEASE_FORMAT, model: { name: model.name, version: model.version as number }, files },
    rejected,
  };
}
