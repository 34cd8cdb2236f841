import { createHash } from 'node:crypto';
import type { SigningKey } from './dsse.js';
import { uuidv7 } from '../../core/ids.js';
import { addEdges } from '../../meta/repos/lineage.js';
import type { Selectable } from 'kysely';
import type { RunsTable } from '../../meta/schema.js';
import { join } from 'node:path';
import { PROOF_FORMAT } from '../../audit/export/proof-file.js';
import { formatVerifierKey } from '../../audit/note/index.js';
import { proveEvent } from '../../audit/service/audit-service.js';
import { CairnError } from '../../core/errors.js';
import type { DatasetDeps } from '../../datasets/index.js';
import { treeLoader } from '../../datasets/index.js';
import { listFlat } from '../../storage/tree/list.js';
import { materializeShared } from '../../datasets/index.js';
import { cardMarkdown, type ModelCard } from '../card.js';
import { assertVerified, resolveModel, verifyModel } from '../registry.js';
import { parseEnvelope } from './dsse.js';
import { verifyReleaseBundle, writeReleaseBundle, type ReleaseFacts } from './index.js';
import type { RecordedTransition } from './key-transition.js';
import type { ReleaseKeyRotationRequest, ReleaseKeyRotationView } from '../index.js';

/** The release key (never the audit checkpoint key): Ed25519 for the DSSE envelopes, P-256 for OMS. */
export interface ReleaseSigningKeys {
  privateKey: SigningKey;
  publicKeyPem: string;
  omsPrivateKey: SigningKey;
}

/** Beyond the dataset ports: the release key, which app/ makes on first need (an audited event). */
export interface ReleaseDeps extends DatasetDeps {
  releaseKeys(): Promise<ReleaseSigningKeys>;
  /** Rotates the release key (app/ knows where it lives); absent where it cannot be rotated from here. */
  rotateReleaseKey?(next: ReleaseKeyRotationRequest): Promise<ReleaseKeyRotationView>;
  /** The witness cosignatures and timestamp token of the checkpoint `note`, as bundle files (none without witnesses or a TSA). */
  checkpointEvidence?(note: string): Promise<Array<{ path: string; data: string | Buffer }>>;
}

/**
 * Writes a release bundle for a model version trained by a recorded run: its files, manifest,
 * card, evaluation reports, SLSA provenance in a DSSE envelope signed with the release key, an
 * OpenSSF Model Signing signature, and audit inclusion proofs of the events that made it (docs/RELEASES.md).
 */
export async function createRelease(
  deps: ReleaseDeps,
  ref: string,
  outDir: string,
): Promise<{ dir: string; model: string; digest: string; keyid: string; files: number; proofs: number }> {
  const m = await resolveModel(deps, ref);
  // What is signed must be what was registered: the row and its files must match the digest
  // the model.register event logged, and the bytes that tree (docs/AUDIT.md).
  const check = await verifyModel(deps, m.ref);
  assertVerified(check, 'be released');
  if (!m.version.run_id)
    throw new CairnError(
      'INVALID_INPUT',
      `${m.ref} was registered from files, not from a recorded run: there is no build to state provenance for`,
      { hint: 'register the model with --from-run <run>' },
    );
  const run = await deps.meta.db.selectFrom('runs').selectAll().where('id', '=', m.version.run_id).executeTakeFirst();
  // A version pushed from a laptop names the run that trained it there; the provenance needs
  // that run's record here, not only its id.
  if (!run)
    throw new CairnError(
      'NOT_FOUND',
      `${m.ref} was trained by run ${m.version.run_id}, which is not recorded here: there is no build to state provenance for`,
      {
        hint: 'push the run from the workspace that ran it, or release the version there',
        data: { run: m.version.run_id },
      },
    );
  const stored = JSON.parse(run.spec) as StoredRunSpec;
  // The tree the log recorded (assertVerified made sure the row's files are that tree).
  const files = { digest: check.digest.slice('sha256:'.length) };
  const dir = await materializeShared(deps, files.digest, deps.cacheDir);
  const listing = await listFlat(files.digest, treeLoader(deps));
  const evaluations = await deps.meta.db
    .selectFrom('model_evaluations')
    .select(['id', 'suite', 'report'])
    .where('version_id', '=', m.version.id)
    .orderBy('at')
    .execute();
  const card = JSON.parse(m.version.card) as ModelCard;
  card.evaluations = evaluations.map((e) => {
    const r = JSON.parse(e.report) as { passed: boolean; data: string; at: string };
    return { suite: e.suite, passed: r.passed, data: r.data, at: r.at };
  });
  const digest = `sha256:${m.version.digest}`;
  const proofs = await auditProofs(deps, m.version.digest);
  // Every proof is against the one checkpoint auditProofs made: that is what witnesses vouch for.
  const proofCheckpoint = proofs[0] ? (JSON.parse(proofs[0].text) as { checkpoint: string }).checkpoint : null;
  const evidence = proofCheckpoint && deps.checkpointEvidence ? await deps.checkpointEvidence(proofCheckpoint) : [];
  const [name, number] = m.ref.split('@v') as [string, string];
  const signing = await deps.releaseKeys();
  // After a rotation the bundle carries the chain from the first release key to this one, so a
  // verifier who pinned an older key follows it (each transition's event is among the proofs).
  const keyChain: RecordedTransition[] = (await deps.audit.releaseKeyTransitions()).map((t) => ({
    index: t.index,
    envelope: parseEnvelope(JSON.stringify(t.envelope)),
  }));
  const facts = releaseFacts({ name, version: Number(number) }, run, stored, deps.audit.keys.origin);
  const result = await writeReleaseBundle(outDir, {
    files: listing.files.map((f) => ({ path: f.path, absPath: join(dir, f.path), sha256: f.entry.digest })),
    card: { markdown: cardMarkdown(card), json: card },
    evaluations: evaluations.map((e) => ({ name: `${e.suite}-${e.id}`, report: JSON.parse(e.report) as unknown })),
    statementFacts: facts,
    auditProofs: proofs,
    privateKey: signing.privateKey,
    publicKeyPem: signing.publicKeyPem,
    omsPrivateKey: signing.omsPrivateKey,
    verifierKey: formatVerifierKey(deps.audit.keys.origin, deps.audit.keys.rawPublicKey),
    evidence,
    keyChain,
  });
  await recordRelease(deps, { name, version: Number(number), digest, versionId: m.version.id }, result, outDir, {
    files: listing.files.length,
    proofs: proofs.length,
    evaluations: evaluations.length,
  });
  return { dir: outDir, model: m.ref, digest, keyid: result.keyid, files: listing.files.length, proofs: proofs.length };
}

export { verifyReleaseBundle };

/** What a run stored about itself (its `spec` column) that provenance states. */
interface StoredRunSpec {
  command: string;
  spec: {
    name: string;
    project: string;
    params: Record<string, string | number | boolean | null>;
    environment: { image?: string; lockfile?: string };
  };
  inputs: Array<{ name: string; ref: string; digest: string }>;
  keyInput: { environment: { lockfile: string | null } };
}

/** The provenance facts of a release (all but its files): the run, its inputs, code and environment. */
export function releaseFacts(
  model: { name: string; version: number },
  run: Selectable<RunsTable>,
  stored: StoredRunSpec,
  builder: string,
): Omit<ReleaseFacts, 'files'> {
  return {
    model,
    run: {
      id: run.id,
      name: stored.spec.name,
      project: stored.spec.project,
      command: stored.command,
      params: stored.spec.params,
      backend: run.backend,
      resources: { gpus: run.gpus, cpus: run.cpus, memoryMb: run.memory_mb, timeLimitS: run.time_limit_s },
      startedOn: run.started_at ?? run.created_at,
      finishedOn: run.ended_at ?? run.created_at,
    },
    inputs: stored.inputs.map((i) => ({
      name: i.name,
      dataset: i.ref.split('@')[0]!,
      version: Number(i.ref.split('@v')[1]),
      sha256: i.digest,
    })),
    code: { commit: run.code_commit, dirty: run.code_dirty },
    environment: {
      ...(stored.spec.environment.image ? { image: { ref: stored.spec.environment.image } } : {}),
      ...(stored.spec.environment.lockfile && stored.keyInput.environment.lockfile
        ? { lockfile: { path: stored.spec.environment.lockfile, sha256: stored.keyInput.environment.lockfile } }
        : {}),
    },
    builder: { id: builder },
  };
}

/** Inclusion proofs of the events that made this version what it is: registered, evaluated, approved, promoted. */
async function auditProofs(deps: ReleaseDeps, versionDigest: string): Promise<Array<{ name: string; text: string }>> {
  const events = await deps.meta.db
    .selectFrom('audit_events')
    .select(['idx', 'action'])
    .where('action', 'in', ['model.register', 'model.evaluate', 'model.approve', 'model.promote'])
    .where('outcome', '=', 'ok')
    .where('entry', 'like', `%${versionDigest}%`)
    .orderBy('idx')
    .execute();
  // The release-key transitions: their proofs fix where in the log each key retired.
  const rotations = await deps.meta.db
    .selectFrom('audit_events')
    .select(['idx', 'action'])
    .where('action', '=', 'keys.rotate')
    .where('outcome', '=', 'ok')
    .where('entry', 'like', '%"purpose":"release"%')
    .orderBy('idx')
    .execute();
  events.push(...rotations);
  await deps.audit.checkpoint();
  const proofs = [];
  for (const e of events)
    proofs.push({
      name: `${String(e.idx).padStart(8, '0')}-${e.action}.json`,
      text: JSON.stringify({ format: PROOF_FORMAT, ...(await proveEvent(deps, Number(e.idx))) }, null, 2),
    });
  return proofs;
}

/** The model.release event, with lineage version → release (the record's id is in the event, so `audit verify` can match them). */
async function recordRelease(
  deps: ReleaseDeps,
  v: { name: string; version: number; digest: string; versionId: string },
  result: { keyid: string; manifest: unknown },
  outDir: string,
  counts: { files: number; proofs: number; evaluations: number },
): Promise<void> {
  const releaseId =
    result.keyid +
    ':' +
    createHash('sha256')
      .update(result.manifest ? JSON.stringify(result.manifest) : outDir)
      .digest('hex');
  await deps.audit.audited(
    {
      action: 'model.release',
      target: { type: 'model', name: v.name, version: v.version, digest: v.digest },
      inputs: [v.digest],
      params: { keyid: result.keyid, ...counts, release: releaseId },
    },
    async (commit) => {
      await commit(async (tx) => {
        await addEdges(tx, [
          {
            id: uuidv7(),
            src_type: 'model_version',
            src_id: v.versionId,
            dst_type: 'release',
            dst_id: releaseId,
            relation: 'released',
            via_type: null,
            via_id: null,
            created_at: new Date().toISOString(),
          },
        ]);
      });
    },
  );
}
