import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  constants,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { canonicalJsonBytes } from '../../core/canonical-json.js';
import { CairnError, ioError } from '../../core/errors.js';
import { checkProofFile } from '../../audit/export/proof-file.js';
import { verifyBundleEvidence, type WitnessConfig } from '../../audit/witness/index.js';
import {
  parseVerifierKey,
  publicKeyFromPem,
  publicKeyToPem,
  rawPublicKey,
  type NoteVerifier,
} from '../../audit/note/index.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  keyIdOf,
  parseEnvelope,
  publicKeyOf,
  type SigningKey,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
} from './dsse.js';
import {
  BUNDLE_FILES,
  EVALUATIONS_DIR,
  jsonFileName,
  MANIFEST_PAYLOAD_TYPE,
  manifestBytes,
  MODEL_DIR,
  parseManifest,
  PROOFS_DIR,
  RELEASE_FORMAT,
  checkReleasePath,
  releasePathProblem,
  UNLISTED_FILES,
  type ManifestFile,
  type ReleaseManifest,
} from './manifest.js';
import { buildOmsStatement, omsKeyHint, omsPublicKeyPem, signOms, verifyOms } from './oms.js';
import {
  followReleaseKeyChain,
  formatReleaseKeyChain,
  parseReleaseKeyChain,
  sameTransition,
  type ChainedKey,
  type RecordedTransition,
} from './key-transition.js';
import { releaseReadme } from './readme.js';
import { buildStatement, parseStatement, type ReleaseFacts, type Statement } from './statement.js';

export interface ReleaseModelFile {
  /** Path inside `model/` (POSIX, relative). */
  path: string;
  /** Where to copy it from. */
  absPath: string;
  /** The digest the caller expects (e.g. from the stored model version); the copy must match it. */
  sha256?: string;
}

export interface WriteReleaseOptions {
  files: ReleaseModelFile[];
  card: { markdown: string; json: unknown };
  evaluations: Array<{ name: string; report: unknown }>;
  /** The statement's facts; `files` is filled in from the copied model files. */
  statementFacts: Omit<ReleaseFacts, 'files'>;
  /** `cairn.audit-proof/v1` files (e.g. of the run's and the model version's audit events). */
  auditProofs: Array<{ name: string; text: string }>;
  /** The Ed25519 release key (keys/release.key, or a token; not the audit checkpoint key). */
  privateKey: SigningKey;
  /** Its public half as PEM (keys/release.pub). */
  publicKeyPem: string;
  /** The ECDSA P-256 key of the OpenSSF Model Signing signature (model.sig; keys/release-oms.key). */
  omsPrivateKey: SigningKey;
  /** The audit log's verifier key (`<origin>+<id>+<base64>`); written as public-key.vkey and used to check the proofs. */
  verifierKey?: string;
  /**
   * The proofs' checkpoint as the log's witnesses cosigned it and a timestamp authority stamped
   * it (`witness/…`, `timestamp/…`, the layout of an audit export), so the bundle alone shows who
   * else saw that history and when it existed.
   */
  evidence?: Array<{ path: string; data: string | Buffer }>;
  /**
   * The release-key transitions from the first release key to `privateKey` (none before a
   * rotation), written as key-chain.json so that a verifier who pinned an older key can follow
   * them; each one's `keys.rotate` event should be among `auditProofs`.
   */
  keyChain?: RecordedTransition[];
}

export interface WriteReleaseResult {
  dir: string;
  manifest: ReleaseManifest;
  statement: Statement;
  keyid: string;
  /** Bytes of all listed files. */
  bytes: number;
}

function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let size = 0;
    createReadStream(path)
      .on('data', (chunk) => {
        const b = chunk as Buffer;
        size += b.length;
        h.update(b);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: h.digest('hex'), size }));
  });
}

function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return rawPublicKey(a).equals(rawPublicKey(b));
}

/**
 * Writes a release bundle into `dir` (new or empty). The model files are copied, then hashed from
 * the copy, so the signatures cover exactly what the bundle holds. On any error the partial bundle
 * is removed.
 */
export async function writeReleaseBundle(dir: string, opts: WriteReleaseOptions): Promise<WriteReleaseResult> {
  const { publicKey, vkey, evalNames, proofNames } = checkReleaseInputs(dir, opts);
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  try {
    const listed: ManifestFile[] = [];
    const put = (rel: string, data: string | Buffer) => {
      const abs = join(dir, ...rel.split('/'));
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, data, { flag: 'wx' });
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      listed.push({ path: rel, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    };
    const modelFiles = await copyModelFiles(dir, opts.files, listed);
    const statement = buildStatement({ ...opts.statementFacts, files: modelFiles });
    const { model } = opts.statementFacts;
    const omsBundle = signOms(buildOmsStatement(`${model.name}@v${model.version}`, modelFiles), opts.omsPrivateKey);
    put(BUNDLE_FILES.omsSignature, jsonText(omsBundle));
    put(BUNDLE_FILES.omsPublicKey, omsPublicKeyPem(opts.omsPrivateKey));

    put(BUNDLE_FILES.cardMarkdown, opts.card.markdown);
    put(BUNDLE_FILES.cardJson, jsonText(opts.card.json));
    opts.evaluations.forEach((e, i) => put(`${EVALUATIONS_DIR}/${evalNames[i]}`, jsonText(e.report)));
    opts.auditProofs.forEach((p, i) => put(`${PROOFS_DIR}/${proofNames[i]}`, p.text));
    put(BUNDLE_FILES.publicKey, publicKeyToPem(publicKey));
    if (opts.verifierKey !== undefined) put(BUNDLE_FILES.verifierKey, `${opts.verifierKey.trim()}\n`);
    for (const e of opts.evidence ?? []) put(e.path, e.data);
    if (opts.keyChain?.length) put(BUNDLE_FILES.keyChain, formatReleaseKeyChain(opts.keyChain));
    const keyid = keyIdOf(publicKey);
    put(BUNDLE_FILES.readme, releaseReadme({ model, keyid, hasVerifierKey: vkey !== null }));
    const statementBytes = canonicalJsonBytes(statement);
    put(
      BUNDLE_FILES.provenance,
      serializeEnvelope(signEnvelope(IN_TOTO_PAYLOAD_TYPE, statementBytes, opts.privateKey)),
    );

    const manifest: ReleaseManifest = {
      format: RELEASE_FORMAT,
      model: { name: model.name, version: model.version },
      files: listed,
    };
    const mBytes = manifestBytes(manifest);
    writeFileSync(join(dir, BUNDLE_FILES.manifest), mBytes, { flag: 'wx' });
    writeFileSync(
      join(dir, BUNDLE_FILES.manifestSignature),
      serializeEnvelope(signEnvelope(MANIFEST_PAYLOAD_TYPE, mBytes, opts.privateKey)),
      { flag: 'wx' },
    );
    return {
      dir,
      manifest: { ...manifest, files: [...listed].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) },
      statement,
      keyid,
      bytes: listed.reduce((n, f) => n + f.size, 0),
    };
  } catch (err) {
    if (created) rmSync(dir, { recursive: true, force: true });
    else for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
    throw err instanceof CairnError ? err : ioError(err, 'write the release bundle into', dir);
  }
}

/** Everything that can be refused without touching the disk is refused first. */
function checkReleaseInputs(dir: string, opts: WriteReleaseOptions) {
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new CairnError('ALREADY_EXISTS', `${dir} is not empty`, {
      hint: 'write the release into a new or empty directory',
    });
  }
  const publicKey = publicKeyFromPem(opts.publicKeyPem);
  if (!samePublicKey(publicKeyOf(opts.privateKey), publicKey)) {
    throw new CairnError('INVALID_INPUT', 'publicKeyPem is not the public half of privateKey');
  }
  const vkey = opts.verifierKey === undefined ? null : parseVerifierKey(opts.verifierKey.trim());
  if (opts.keyChain?.length) {
    const followed = followReleaseKeyChain(opts.keyChain);
    if ('problem' in followed)
      throw new CairnError('SIGNATURE_INVALID', `the release key chain does not verify: ${followed.problem}`);
    if (followed.keys.at(-1)!.keyid !== keyIdOf(publicKey))
      throw new CairnError('INVALID_INPUT', 'the release key chain does not end at the key that signs this release');
  }
  omsPublicKeyPem(opts.omsPrivateKey); // refuses anything but a P-256 private key, before any file is written
  const seen = new Set<string>();
  for (const f of opts.files) {
    checkReleasePath(f.path, 'model file path');
    if (seen.has(f.path)) throw new CairnError('INVALID_INPUT', `model file ${f.path} is listed twice`);
    seen.add(f.path);
  }
  if (opts.files.length === 0) throw new CairnError('INVALID_INPUT', 'a release needs at least one model file');
  for (const e of opts.evidence ?? []) {
    checkReleasePath(e.path, 'evidence file path');
    if (!EVIDENCE_DIRS.some((d) => e.path.startsWith(`${d}/`)))
      throw new CairnError('INVALID_INPUT', `evidence file ${e.path} is not under ${EVIDENCE_DIRS.join('/ or ')}/`);
  }
  const evalNames = uniqueNames(
    opts.evaluations.map((e) => e.name),
    'evaluation report',
  );
  const proofNames = uniqueNames(
    opts.auditProofs.map((p) => p.name),
    'audit proof',
  );
  // The facts are checked now, with stand-in digests, rather than after copying the model.
  buildStatement({ ...opts.statementFacts, files: opts.files.map((f) => ({ path: f.path, sha256: '0'.repeat(64) })) });
  const trustedForProofs: NoteVerifier | undefined = vkey
    ? { name: vkey.name, keyId: vkey.keyId, publicKey: vkey.publicKey }
    : undefined;
  opts.auditProofs.forEach((p, i) => {
    const r = checkProofFile(p.text, trustedForProofs);
    if (!r.ok)
      throw new CairnError('CHECK_FAILED', `audit proof ${proofNames[i]} does not verify: ${r.problems.join('; ')}`);
  });
  return { publicKey, vkey, evalNames, proofNames };
}

/** Copies the model files into the bundle and hashes each copy (what the signatures cover). */
async function copyModelFiles(
  dir: string,
  files: WriteReleaseOptions['files'],
  listed: ManifestFile[],
): Promise<Array<{ path: string; sha256: string }>> {
  const modelFiles: Array<{ path: string; sha256: string }> = [];
  for (const f of files) {
    const rel = `${MODEL_DIR}/${f.path}`;
    const abs = join(dir, ...rel.split('/'));
    try {
      if (!statSync(f.absPath).isFile()) throw new CairnError('INVALID_INPUT', `${f.absPath} is not a regular file`);
      mkdirSync(dirname(abs), { recursive: true });
      await copyFile(f.absPath, abs, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    } catch (err) {
      throw ioError(err, 'copy the model file', f.absPath);
    }
    const h = await hashFile(abs);
    if (f.sha256 !== undefined && f.sha256.replace(/^sha256:/, '') !== h.sha256) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `model file ${f.path} (${f.absPath}) has SHA-256 ${h.sha256}, expected ${f.sha256}`,
      );
    }
    listed.push({ path: rel, ...h });
    modelFiles.push({ path: f.path, sha256: h.sha256 });
  }
  return modelFiles;
}

function uniqueNames(names: string[], what: string): string[] {
  const out = names.map((n) => jsonFileName(n, what));
  const dup = out.find((n, i) => out.indexOf(n) !== i);
  if (dup) throw new CairnError('INVALID_INPUT', `two ${what}s would both be written as ${dup}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verification

export type ReleaseProblemCode =
  | 'manifest-invalid'
  | 'path-unsafe'
  | 'file-missing'
  | 'file-modified'
  | 'file-unlisted'
  | 'key-invalid'
  | 'key-mismatch'
  | 'signature-invalid'
  | 'statement-invalid'
  | 'subject-mismatch'
  | 'proof-invalid'
  | 'oms-invalid'
  | 'evidence-invalid'
  | 'not-witnessed'
  | 'key-chain-invalid'
  | 'key-retired';

export interface ReleaseProblem {
  code: ReleaseProblemCode;
  /** Bundle-relative path of the file concerned, when there is one. */
  file?: string;
  message: string;
}

export interface VerifyReleaseOptions {
  /** The release key the caller trusts (PEM). Without it the bundle's own public-key.pem is used. */
  trustedPublicKeyPem?: string;
  /**
   * The audit log key the caller trusts, for the proofs (`<origin>+<id>+<base64>` or a parsed
   * verifier). Without it, the bundle's public-key.vkey is used, and it counts as trusted when its
   * key is the trusted release key (Cairn signs both with the workspace key).
   */
  trustedVerifierKey?: string | NoteVerifier;
  /**
   * The OMS key the caller trusts (P-256 PEM). Without it, the bundle's public-key-oms.pem is
   * used, and counts as trusted when the trusted release key signed the manifest that pins it.
   */
  trustedOmsPublicKeyPem?: string;
  /**
   * The witnesses the caller trusts (their cosignature vkeys and how many must cosign). Without
   * it the bundle's own witness/witnesses.json is used, which proves only self-consistency.
   */
  trustedWitnesses?: WitnessConfig;
  /** Also require the proofs' checkpoint to carry k valid witness cosignatures. */
  witnessed?: boolean;
  /**
   * Release-key transitions the caller knows of (a `cairn.release-key-chain/v1` file: the
   * publisher's keys/release-chain.json, or a newer bundle's key-chain.json), beside the ones the
   * bundle carries: they let a key pinned later than the bundle's reach it, and show when the
   * bundle's key was retired.
   */
  trustedKeyChain?: string;
}

/** Where a bundle keeps its checkpoint's cosignatures and timestamp token (as an audit export does). */
export const EVIDENCE_DIRS = ['witness', 'timestamp'] as const;

export interface ReleaseVerifyReport {
  ok: boolean;
  problems: ReleaseProblem[];
  model: { name: string; version: number };
  /** keyid of the key the signatures were checked with. */
  keyid: string | null;
  /** The signatures were checked against a key the caller supplied, not only the bundle's own. */
  keyTrusted: boolean;
  /**
   * After a rotation: the release keys (keyids) from the first to the latest known, each with the
   * log entries that introduced and retired it. Empty when no transition is known.
   */
  keyChain: Array<{ keyid: string; since: number | null; retiredAt: number | null }>;
  /**
   * Likewise for the checkpoints in the audit proofs: a key the caller supplied, or the bundle's
   * public-key.vkey when the trusted release key signed the manifest that pins it.
   */
  proofsKeyTrusted: boolean;
  /** The OpenSSF Model Signing signature (model.sig) was present and verified. */
  omsChecked: boolean;
  /** Its key was the caller's, or pinned by a manifest that the trusted release key signed. */
  omsKeyTrusted: boolean;
  filesChecked: number;
  proofsChecked: number;
  /** The proofs' checkpoint: its valid witness cosignatures against the policy, and timestamp tokens checked. */
  evidence: { cosignatures: string[]; policy: number; witnessed: boolean; timestampTokens: number } | null;
  /** The signed statement, when its signature verified. */
  statement: Statement | null;
}

type Entry = { kind: 'file'; size: number } | { kind: 'other'; what: string };

/** What is at a bundle path, without following symbolic links anywhere along it. */
function inspect(root: string, rel: string): Entry | null {
  const segs = rel.split('/');
  let abs = root;
  for (let i = 0; i < segs.length; i++) {
    abs = join(abs, segs[i]!);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return null;
    }
    if (st.isSymbolicLink())
      return {
        kind: 'other',
        what:
          i === segs.length - 1
            ? 'is a symbolic link'
            : `goes through the symbolic link ${segs.slice(0, i + 1).join('/')}`,
      };
    if (i < segs.length - 1 && !st.isDirectory()) return null;
    if (i === segs.length - 1)
      return st.isFile() ? { kind: 'file', size: st.size } : { kind: 'other', what: 'is not a regular file' };
  }
  return null;
}

/** Every bundle-relative path of a non-directory (files, links, others), links not followed. */
function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const d of readdirSync(rel ? join(root, ...rel.split('/')) : root, { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...walk(root, p));
    else out.push(p);
  }
  return out;
}

function readText(root: string, rel: string): string | null {
  const e = inspect(root, rel);
  if (!e || e.kind !== 'file') return null;
  return readFileSync(join(root, ...rel.split('/')), 'utf8');
}

/**
 * Checks a release bundle with nothing but its files: manifest signature and digests, no unlisted
 * files, the provenance signature, subjects against the manifest, and every audit proof. Throws
 * only when `dir` is not a release bundle at all (no readable manifest.json, unknown format).
 */
export async function verifyReleaseBundle(dir: string, opts: VerifyReleaseOptions = {}): Promise<ReleaseVerifyReport> {
  const problems: ReleaseProblem[] = [];
  const add: AddProblem = (code, file, message) =>
    problems.push({ code, ...(file !== undefined ? { file } : {}), message });

  const manifestEntry = inspect(dir, BUNDLE_FILES.manifest);
  if (!manifestEntry || manifestEntry.kind !== 'file') {
    throw new CairnError('INVALID_INPUT', `${join(dir, BUNDLE_FILES.manifest)} is missing: not a release bundle`);
  }
  const manifestRaw = readFileSync(join(dir, BUNDLE_FILES.manifest));
  const { manifest, rejected } = parseManifest(manifestRaw.toString('utf8'));
  for (const r of rejected) add(releasePathProblem(r.path) ? 'path-unsafe' : 'manifest-invalid', r.path, r.message);
  const chain = releaseKeyChain(dir, new Set(manifest.files.map((f) => f.path)), opts, add);
  const { key, keyTrusted } = signingKey(dir, opts, chain.keys, add);
  // manifest.dsse.json must sign exactly the bytes of manifest.json.
  const openEnvelope = envelopeOpener(dir, key, add);
  const signedManifest = openEnvelope(BUNDLE_FILES.manifestSignature, MANIFEST_PAYLOAD_TYPE);
  const manifestSigned = signedManifest !== null && signedManifest.equals(manifestRaw);
  if (signedManifest && !manifestSigned) {
    add(
      'signature-invalid',
      BUNDLE_FILES.manifestSignature,
      'manifest.dsse.json signs other bytes than manifest.json (was the manifest edited?)',
    );
  }
  const { filesChecked, listed, modelFiles } = await checkListedFiles(dir, manifest, rejected, add);

  // The provenance: signed, an in-toto statement, subjects = the model files of the manifest.
  let statement: Statement | null = null;
  const payload = openEnvelope(BUNDLE_FILES.provenance, IN_TOTO_PAYLOAD_TYPE);
  if (payload) {
    try {
      statement = parseStatement(payload);
    } catch (err) {
      add('statement-invalid', BUNDLE_FILES.provenance, (err as Error).message);
    }
  }
  if (statement) checkSubjects(statement, modelFiles, add);
  // A file that a manifest signed by the trusted release key pins, unmodified, is as trusted as that key.
  const pinned = (file: string) =>
    keyTrusted && manifestSigned && listed.has(file) && !problems.some((p) => p.file === file);
  const { proofsChecked, proofsKeyTrusted, proofsKey, checkpoints, entries } = checkProofs(
    dir,
    manifest,
    listed,
    opts,
    { key, keyTrusted },
    add,
    pinned,
  );
  checkChainProofs(chain.carried, entries, add);
  checkRetirement(key, chain.keys, checkpoints, add);
  const { omsChecked, omsKeyTrusted } = checkOms(dir, listed, modelFiles, opts, add, pinned);
  const evidence = await checkEvidence(dir, listed, proofsKey, checkpoints, opts, add);

  return {
    ok: problems.length === 0,
    problems,
    model: manifest.model,
    keyid: key ? keyIdOf(key) : null,
    keyTrusted,
    keyChain: chain.keys.map((k) => ({ keyid: k.keyid, since: k.since, retiredAt: k.retiredAt })),
    proofsKeyTrusted,
    omsChecked,
    omsKeyTrusted,
    filesChecked,
    proofsChecked,
    evidence,
    statement,
  };
}

type AddProblem = (code: ReleaseProblemCode, file: string | undefined, message: string) => void;

/** The key signatures are checked with: the caller's, else the bundle's own. */
function signingKey(
  dir: string,
  opts: VerifyReleaseOptions,
  chain: ChainedKey[],
  add: AddProblem,
): { key: KeyObject | null; keyTrusted: boolean } {
  let key: KeyObject | null = null;
  let keyTrusted = false;
  let bundleKey: KeyObject | null = null;
  const pemText = readText(dir, BUNDLE_FILES.publicKey);
  try {
    if (pemText !== null) bundleKey = publicKeyFromPem(pemText);
  } catch {
    add('key-invalid', BUNDLE_FILES.publicKey, 'public-key.pem is not an Ed25519 public key');
  }
  if (opts.trustedPublicKeyPem !== undefined) {
    key = publicKeyFromPem(opts.trustedPublicKeyPem);
    keyTrusted = true;
    if (bundleKey && !samePublicKey(bundleKey, key)) {
      // Another key is trusted only through transitions that link it to the pinned one, in
      // either direction: each was signed by the key before it and countersigned by the key after.
      const pinned = keyIdOf(key);
      const signer = keyIdOf(bundleKey);
      if (chain.some((k) => k.keyid === pinned) && chain.some((k) => k.keyid === signer)) key = bundleKey;
      else
        add(
          'key-mismatch',
          BUNDLE_FILES.publicKey,
          chain.length
            ? `public-key.pem (${signer}) is not the trusted key, and the release key chain does not link them: ${chain.some((k) => k.keyid === pinned) ? 'the chain never reaches the bundle’s key (a key from nowhere)' : 'the trusted key is not on the chain (pass --key-chain with a chain that names it)'}`
            : `public-key.pem is not the trusted key: the bundle names another signer (${signer})`,
        );
    }
  } else {
    key = bundleKey;
  }
  if (pemText === null) add('file-missing', BUNDLE_FILES.publicKey, 'public-key.pem is missing');

  return { key, keyTrusted };
}

/** Opens a DSSE file of the bundle with `key`: its payload, or null (the problem added). */
function envelopeOpener(dir: string, key: KeyObject | null, add: AddProblem) {
  return (file: string, type: string): Buffer | null => {
    const text = readText(dir, file);
    if (text === null) {
      add('file-missing', file, `${file} is missing`);
      return null;
    }
    if (!key) {
      add('signature-invalid', file, `${file} cannot be checked: there is no usable public key`);
      return null;
    }
    try {
      const r = verifyEnvelope(parseEnvelope(text), key, type);
      if (r.ok) return r.payload;
      add('signature-invalid', file, `${file}: ${r.reason}`);
    } catch (err) {
      add('signature-invalid', file, `${file}: ${(err as Error).message}`);
    }
    return null;
  };
}

/**
 * The release-key transitions: the bundle's key-chain.json (when the manifest lists it) and the
 * caller's, which must agree (one a prefix of the other: a key has one history), followed from
 * the first key. Only signatures make a transition count; where the chain came from does not.
 */
function releaseKeyChain(
  dir: string,
  listed: Set<string>,
  opts: VerifyReleaseOptions,
  add: AddProblem,
): { keys: ChainedKey[]; carried: RecordedTransition[] } {
  let carried: RecordedTransition[] = [];
  if (listed.has(BUNDLE_FILES.keyChain)) {
    const text = readText(dir, BUNDLE_FILES.keyChain);
    try {
      if (text !== null) carried = parseReleaseKeyChain(text);
    } catch (err) {
      add('key-chain-invalid', BUNDLE_FILES.keyChain, `${BUNDLE_FILES.keyChain}: ${(err as Error).message}`);
    }
  }
  let given: RecordedTransition[] = [];
  if (opts.trustedKeyChain !== undefined) {
    try {
      given = parseReleaseKeyChain(opts.trustedKeyChain);
    } catch (err) {
      add('key-chain-invalid', undefined, `the given key chain: ${(err as Error).message}`);
    }
  }
  const [shorter, longer] = carried.length <= given.length ? [carried, given] : [given, carried];
  const split = shorter.findIndex((t, i) => !sameTransition(t, longer[i]!));
  if (split >= 0) {
    add(
      'key-chain-invalid',
      BUNDLE_FILES.keyChain,
      `the bundle's release key chain and the given one disagree at transition ${split}: two histories of the release key`,
    );
    return { keys: [], carried };
  }
  const followed = followReleaseKeyChain(longer);
  if ('problem' in followed) {
    add(
      'key-chain-invalid',
      longer === carried ? BUNDLE_FILES.keyChain : undefined,
      `the release key chain does not verify: ${followed.problem}`,
    );
    return { keys: [], carried };
  }
  return { keys: followed.keys, carried };
}

/**
 * Each transition the bundle carries must be the statement of a `keys.rotate` event that one of
 * its verified audit proofs includes, at the index it claims: that index is when the key retired.
 */
function checkChainProofs(carried: RecordedTransition[], entries: Map<number, string>, add: AddProblem): void {
  for (const t of carried) {
    const entry = entries.get(t.index);
    let ok = false;
    if (entry !== undefined) {
      try {
        const ev = JSON.parse(entry) as {
          action?: unknown;
          outcome?: unknown;
          params?: { purpose?: unknown; statement?: { payload?: unknown } };
        };
        ok =
          ev.action === 'keys.rotate' &&
          ev.outcome === 'ok' &&
          ev.params?.purpose === 'release' &&
          ev.params.statement?.payload === t.envelope.payload;
      } catch {
        ok = false;
      }
    }
    if (!ok)
      add(
        'key-chain-invalid',
        BUNDLE_FILES.keyChain,
        entry === undefined
          ? `the transition at entry ${t.index} has no verified audit proof in the bundle`
          : `audit entry ${t.index} is not the keys.rotate event of this transition`,
      );
  }
}

/**
 * A bundle signed by a key the chain retired must show that it was made before the retirement:
 * its audit proofs are against checkpoints the signer's key was still current at (a checkpoint
 * of size s covers the transition at entry t when t < s).
 */
function checkRetirement(
  key: KeyObject | null,
  chain: ChainedKey[],
  checkpoints: Array<{ size: number }>,
  add: AddProblem,
): void {
  if (!key) return;
  const mine = chain.find((k) => k.keyid === keyIdOf(key));
  if (!mine || mine.retiredAt === null) return;
  const latest = checkpoints.at(-1)?.size;
  if (latest === undefined)
    add(
      'key-retired',
      BUNDLE_FILES.publicKey,
      `signed by ${mine.keyid}, which the log retired at entry ${mine.retiredAt}, and no verified audit proof shows the release was made before that`,
    );
  else if (latest > mine.retiredAt)
    add(
      'key-retired',
      BUNDLE_FILES.publicKey,
      `signed by ${mine.keyid} after its retirement: the log handed the release key over at entry ${mine.retiredAt}, and the bundle's audit proofs are against a checkpoint of size ${latest}, which covers it`,
    );
}

/** Every listed file, by size then digest; files not listed; files the manifest must list. */
async function checkListedFiles(
  dir: string,
  manifest: ReleaseManifest,
  rejected: Array<{ path: string }>,
  add: AddProblem,
): Promise<{ filesChecked: number; listed: Set<string>; modelFiles: ManifestFile[] }> {
  let filesChecked = 0;
  for (const f of manifest.files) {
    const e = inspect(dir, f.path);
    if (!e) add('file-missing', f.path, `${f.path} is listed in the manifest but missing`);
    else if (e.kind !== 'file') add('path-unsafe', f.path, `${f.path} ${e.what}; refusing to read it`);
    else if (e.size !== f.size)
      add('file-modified', f.path, `${f.path} was modified: ${e.size} bytes, the manifest says ${f.size}`);
    else {
      const h = await hashFile(join(dir, ...f.path.split('/')));
      if (h.sha256 !== f.sha256)
        add('file-modified', f.path, `${f.path} was modified: SHA-256 ${h.sha256}, the manifest says ${f.sha256}`);
      else filesChecked++;
    }
  }
  const listed = new Set([...manifest.files.map((f) => f.path), ...rejected.map((r) => r.path)]);
  for (const p of walk(dir)) {
    if (UNLISTED_FILES.has(p) || listed.has(p)) continue;
    add(
      'file-unlisted',
      p,
      `${p} is not listed in the manifest${p.startsWith(`${MODEL_DIR}/`) ? ' (a file was added to the model)' : ''}`,
    );
  }
  for (const required of [BUNDLE_FILES.provenance, BUNDLE_FILES.publicKey]) {
    if (!listed.has(required)) add('manifest-invalid', required, `the manifest does not list ${required}`);
  }
  const modelFiles = manifest.files.filter((f) => f.path.startsWith(`${MODEL_DIR}/`));
  if (modelFiles.length === 0) add('manifest-invalid', undefined, 'the manifest lists no model files');

  return { filesChecked, listed, modelFiles };
}

/** The statement's subjects must be exactly the model files of the manifest, with their digests. */
function checkSubjects(statement: Statement, modelFiles: ManifestFile[], add: AddProblem): void {
  const subjects = new Map<string, string>();
  for (const s of statement.subject) {
    if (subjects.has(s.name))
      add('statement-invalid', BUNDLE_FILES.provenance, `the statement names subject ${s.name} twice`);
    subjects.set(s.name, s.digest.sha256);
  }
  const inManifest = new Map(modelFiles.map((f) => [f.path.slice(MODEL_DIR.length + 1), f.sha256]));
  for (const [name, digest] of subjects) {
    const m = inManifest.get(name);
    if (m === undefined)
      add(
        'subject-mismatch',
        `${MODEL_DIR}/${name}`,
        `the signed statement names ${name}, which the manifest does not list under ${MODEL_DIR}/`,
      );
    else if (m !== digest)
      add(
        'subject-mismatch',
        `${MODEL_DIR}/${name}`,
        `the signed statement gives ${name} SHA-256 ${digest}, the manifest ${m}`,
      );
  }
  for (const name of inManifest.keys()) {
    if (!subjects.has(name))
      add('subject-mismatch', `${MODEL_DIR}/${name}`, `${MODEL_DIR}/${name} is not a subject of the signed statement`);
  }
}

/** Every audit proof, with the trusted audit key, else the bundle's own (trusted only if its signer is). */
function checkProofs(
  dir: string,
  manifest: ReleaseManifest,
  listed: Set<string>,
  opts: VerifyReleaseOptions,
  signer: { key: KeyObject | null; keyTrusted: boolean },
  add: AddProblem,
  pinned: (file: string) => boolean,
): {
  proofsChecked: number;
  proofsKeyTrusted: boolean;
  proofsKey: NoteVerifier | undefined;
  checkpoints: Array<{ size: number; note: string }>;
  /** The entries the verified proofs include, by index. */
  entries: Map<number, string>;
} {
  const { key, keyTrusted } = signer;
  let proofsKey: NoteVerifier | undefined;
  let proofsKeyTrusted = false;
  const vkeyText = listed.has(BUNDLE_FILES.verifierKey) ? readText(dir, BUNDLE_FILES.verifierKey) : null;
  let bundleVkey: NoteVerifier | null = null;
  if (vkeyText !== null) {
    try {
      const p = parseVerifierKey(vkeyText.trim());
      bundleVkey = { name: p.name, keyId: p.keyId, publicKey: p.publicKey };
    } catch (err) {
      add('key-invalid', BUNDLE_FILES.verifierKey, `public-key.vkey is not a verifier key: ${(err as Error).message}`);
    }
  }
  if (opts.trustedVerifierKey !== undefined) {
    const t = opts.trustedVerifierKey;
    proofsKey =
      typeof t === 'string'
        ? (({ name, keyId, publicKey }) => ({ name, keyId, publicKey }))(parseVerifierKey(t.trim()))
        : t;
    proofsKeyTrusted = true;
    if (
      bundleVkey &&
      (bundleVkey.name !== proofsKey.name || !samePublicKey(bundleVkey.publicKey, proofsKey.publicKey))
    ) {
      add('key-mismatch', BUNDLE_FILES.verifierKey, 'public-key.vkey is not the trusted audit key');
    }
  } else if (bundleVkey) {
    proofsKey = bundleVkey;
    proofsKeyTrusted =
      pinned(BUNDLE_FILES.verifierKey) || (keyTrusted && key !== null && samePublicKey(bundleVkey.publicKey, key));
  }
  let proofsChecked = 0;
  const checkpoints = new Map<number, string>();
  const entries = new Map<number, string>();
  for (const f of manifest.files.filter((x) => x.path.startsWith(`${PROOFS_DIR}/`))) {
    const text = readText(dir, f.path);
    if (text === null) continue; // already reported above
    try {
      const r = checkProofFile(text, proofsKey);
      if (r.ok) {
        proofsChecked++;
        const p = JSON.parse(text) as { checkpoint: string; entry: string };
        checkpoints.set(r.treeSize, p.checkpoint);
        entries.set(r.index, p.entry);
      } else add('proof-invalid', f.path, `${f.path}: ${r.problems.join('; ')}`);
    } catch (err) {
      add('proof-invalid', f.path, `${f.path}: ${(err as Error).message}`);
    }
  }

  const sorted = [...checkpoints].sort((a, b) => a[0] - b[0]).map(([size, note]) => ({ size, note }));
  return { proofsChecked, proofsKeyTrusted, proofsKey, checkpoints: sorted, entries };
}

/**
 * The proofs' checkpoint as witnesses cosigned it and a TSA stamped it: every cosigned note must
 * be a checkpoint the proofs use, signed by the log's key, every cosignature by a trusted witness
 * must verify, every token must pass `openssl ts -verify`. With `witnessed`, the latest of those
 * checkpoints needs k cosignatures by the trusted witnesses.
 */
async function checkEvidence(
  dir: string,
  listed: Set<string>,
  proofsKey: NoteVerifier | undefined,
  checkpoints: Array<{ size: number; note: string }>,
  opts: VerifyReleaseOptions,
  add: AddProblem,
): Promise<ReleaseVerifyReport['evidence']> {
  const carried = [...listed].some((p) => EVIDENCE_DIRS.some((d) => p.startsWith(`${d}/`)));
  if (!carried) {
    if (opts.witnessed)
      add(
        'not-witnessed',
        undefined,
        'the bundle carries no witness cosignatures (released before witnesses were set up?)',
      );
    return null;
  }
  if (!proofsKey || checkpoints.length === 0) {
    add('evidence-invalid', undefined, 'witness and timestamp files need a verified audit proof to refer to');
    return null;
  }
  const r = await verifyBundleEvidence(dir, proofsKey, checkpoints, opts.trustedWitnesses);
  for (const p of r.problems) add('evidence-invalid', undefined, p.message);
  const latest = r.latest;
  if (opts.witnessed && !latest?.witnessed)
    add(
      'not-witnessed',
      undefined,
      latest
        ? `the proofs' checkpoint (size ${latest.size}) has ${latest.cosignatures.length} valid cosignature(s), the policy needs ${latest.policy}`
        : 'the bundle names no witnesses to check cosignatures against',
    );
  return latest
    ? {
        cosignatures: latest.cosignatures,
        policy: latest.policy,
        witnessed: latest.witnessed,
        timestampTokens: r.timestampTokens,
      }
    : { cosignatures: [], policy: 0, witnessed: false, timestampTokens: r.timestampTokens };
}

/**
 * The OpenSSF Model Signing signature, when the bundle has one (bundles written before it was
 * added do not): with the caller's OMS key, else the bundle's public-key-oms.pem.
 */
function checkOms(
  dir: string,
  listed: Set<string>,
  modelFiles: ManifestFile[],
  opts: VerifyReleaseOptions,
  add: AddProblem,
  pinned: (file: string) => boolean,
): { omsChecked: boolean; omsKeyTrusted: boolean } {
  const none = { omsChecked: false, omsKeyTrusted: false };
  if (!listed.has(BUNDLE_FILES.omsSignature)) {
    if (opts.trustedOmsPublicKeyPem !== undefined)
      add('oms-invalid', BUNDLE_FILES.omsSignature, 'an OMS key was given but the bundle has no model.sig');
    return none;
  }
  const text = readText(dir, BUNDLE_FILES.omsSignature);
  if (text === null) return none; // reported as missing above
  let key: KeyObject;
  let trusted = false;
  try {
    if (opts.trustedOmsPublicKeyPem !== undefined) {
      key = createPublicKey(opts.trustedOmsPublicKeyPem);
      trusted = true;
    } else {
      const pem = readText(dir, BUNDLE_FILES.omsPublicKey);
      if (pem === null) {
        add('file-missing', BUNDLE_FILES.omsPublicKey, 'public-key-oms.pem is missing: model.sig cannot be checked');
        return none;
      }
      key = createPublicKey(pem);
      trusted = pinned(BUNDLE_FILES.omsPublicKey);
    }
    omsKeyHint(key); // refuses anything but a P-256 public key
  } catch (err) {
    add(
      'key-invalid',
      BUNDLE_FILES.omsPublicKey,
      `the OMS key is not an ECDSA P-256 public key: ${(err as Error).message}`,
    );
    return none;
  }
  const r = verifyOms(
    text,
    key,
    modelFiles.map((f) => ({ path: f.path.slice(MODEL_DIR.length + 1), sha256: f.sha256 })),
  );
  if (!r.ok) {
    add('oms-invalid', BUNDLE_FILES.omsSignature, `model.sig: ${r.reason}`);
    return none;
  }
  return { omsChecked: true, omsKeyTrusted: trusted };
}
