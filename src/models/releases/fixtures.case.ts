import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJsonBytes } from '../../core/canonical-json.js';
import { PROOF_FORMAT } from '../../audit/export/proof-file.js';
import { leafHash, naiveRoot } from '../../audit/merkle/index.js';
import { naiveInclusionProof } from '../../audit/merkle/naive.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  publicKeyToPem,
  signCheckpoint,
  signerFromPrivateKey,
  type NoteSigner,
} from '../../audit/note/index.js';
import { writeReleaseBundle, type WriteReleaseOptions } from './bundle.js';
import { serializeEnvelope, signEnvelope } from './dsse.js';
import { MANIFEST_PAYLOAD_TYPE, releasePathProblem } from './manifest.js';
import type { ReleaseFacts } from './statement.js';

/** Shared by the release tests (not part of the build). */
export const H = (c: string) => c.repeat(64);

export function sampleFacts(overrides: Partial<ReleaseFacts> = {}): ReleaseFacts {
  return {
    model: { name: 'churn', version: 3 },
    files: [
      { path: 'weights.safetensors', sha256: H('a') },
      { path: 'config/tokenizer.json', sha256: `sha256:${H('b')}` },
    ],
    run: {
      id: 'run_01J0000000000000000000000',
      name: 'train-churn',
      project: 'retention',
      command: 'python train.py --lr {params.lr}',
      params: { lr: 0.01, epochs: 3, tag: 'x', flag: true, none: null },
      backend: 'slurm',
      resources: { gpus: 1, cpus: 8, memoryMb: 32000, timeLimitS: 3600 },
      startedOn: '2025-03-01T10:00:00Z',
      finishedOn: new Date('2025-03-01T11:30:00.000Z'),
    },
    inputs: [
      { name: 'train', dataset: 'flights/train', version: 4, sha256: H('c') },
      { name: 'eval', dataset: 'flights/eval', version: 2, sha256: H('d') },
    ],
    code: {
      commit: '0123456789abcdef0123456789abcdef01234567',
      dirty: H('e'),
      repository: 'https://git.example.com/ml/churn',
    },
    environment: {
      image: { ref: `ghcr.io/acme/train@sha256:${H('f')}` },
      lockfile: { path: 'uv.lock', sha256: H('1') },
    },
    builder: { id: 'https://cairn.example.com/ws/acme', version: { cairn: '0.1.0' } },
    ...overrides,
  };
}

export const ORIGIN = 'cairn.example.com/ws/acme';

/** A `cairn.audit-proof/v1` file for entry `index` of a log holding `entries`, signed by `signer`. */
export function makeProof(signer: NoteSigner, entries: string[], index: number): string {
  const leaves = entries.map((e) => leafHash(Buffer.from(e, 'utf8')));
  const checkpoint = signCheckpoint({ origin: signer.name, size: leaves.length, rootHash: naiveRoot(leaves) }, signer);
  const doc = {
    format: PROOF_FORMAT,
    index,
    entry: entries[index]!,
    leafHash: leaves[index]!.toString('hex'),
    treeSize: leaves.length,
    proof: naiveInclusionProof(index, leaves).map((h) => h.toString('hex')),
    checkpoint,
    verifierKey: formatVerifierKey(signer.name, signer.rawPublicKey),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export interface Fixture {
  out: string;
  privateKey: KeyObject;
  publicKeyPem: string;
  verifierKey: string;
  options: WriteReleaseOptions;
}

/** Model files in a scratch folder, a fresh key, and a bundle written from them into `<tmp>/release`. */
export async function writeFixture(tmp: () => string): Promise<Fixture> {
  const src = tmp();
  mkdirSync(join(src, 'config'));
  writeFileSync(join(src, 'weights.bin'), randomBytes(200_000));
  writeFileSync(join(src, 'config', 'tokenizer.json'), '{"vocab":[]}\n');
  const { privateKey, publicKey } = generateSigningKeyPair();
  const signer = signerFromPrivateKey(ORIGIN, privateKey);
  const verifierKey = formatVerifierKey(ORIGIN, signer.rawPublicKey);
  const entries = [
    '{"index":0,"action":"run.finish"}',
    '{"index":1,"action":"model.register"}',
    '{"index":2,"action":"other"}',
  ];
  const { files: _files, ...statementFacts } = sampleFacts();
  const options: WriteReleaseOptions = {
    files: [
      { path: 'weights.bin', absPath: join(src, 'weights.bin') },
      { path: 'config/tokenizer.json', absPath: join(src, 'config', 'tokenizer.json') },
    ],
    card: {
      markdown: '# churn v3\n\nPredicts churn.\n',
      json: { name: 'churn', version: 3, intendedUse: 'retention' },
    },
    evaluations: [{ name: 'holdout', report: { auc: 0.91, dataset: 'cairn:dataset/flights/eval@v2' } }],
    statementFacts,
    auditProofs: [
      { name: 'run-finished', text: makeProof(signer, entries, 0) },
      { name: 'model-registered.json', text: makeProof(signer, entries, 1) },
    ],
    privateKey,
    publicKeyPem: publicKeyToPem(publicKey),
    omsPrivateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    verifierKey,
  };
  const out = join(tmp(), 'release');
  await writeReleaseBundle(out, options);
  return { out, privateKey, publicKeyPem: options.publicKeyPem, verifierKey, options };
}

/**
 * What an attacker holding `privateKey` could do: recompute manifest.json for the files as they now
 * are (after `edit`), and sign it again.
 */
export function resignManifest(
  dir: string,
  privateKey: KeyObject,
  edit?: (m: { files: Array<{ path: string; sha256: string; size: number }> }) => void,
): void {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: Array<{ path: string; sha256: string; size: number }>;
  };
  m.files = m.files.map((f) => {
    const abs = join(dir, f.path);
    if (releasePathProblem(f.path) || !existsSync(abs)) return f;
    const bytes = readFileSync(abs);
    return { ...f, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  });
  edit?.(m);
  const bytes = canonicalJsonBytes(m);
  writeFileSync(join(dir, 'manifest.json'), bytes);
  writeFileSync(
    join(dir, 'manifest.dsse.json'),
    serializeEnvelope(signEnvelope(MANIFEST_PAYLOAD_TYPE, bytes, privateKey)),
  );
}
