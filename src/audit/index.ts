// The audit trail as a service: what `cairn audit …` (and a team server) can ask of the log.
// Storage-level modules (the log itself, events, Merkle proofs, notes) are imported directly by
// the domains that record events; shells (cli/) see only this file.
import type { Kysely } from 'kysely';
import { CairnError } from '../core/errors.js';
import type { Database } from '../meta/schema.js';
import type { BlobIndex } from '../storage/blob-index.js';
import type { LocalPackDir } from '../storage/objects/local-packs.js';
import type { TreeLoader } from '../storage/tree/walk.js';
import type { WorkerPool } from '../storage/workers/pool.js';
import { exportBundle, verifyBundle, type BundleVerifyReport, type ExportResult } from './export/bundle.js';
import { checkProofFile, PROOF_FORMAT, type ProofCheck } from './export/proof-file.js';
import type { InclusionBundle } from './log/audit-log.js';
import { verifyConsistency } from './merkle/index.js';
import { formatVerifierKey, openCheckpoint, rawPublicKey, type NoteVerifier } from './note/index.js';
import { chainKey, openKeyTransition } from './log/key-transition.js';
import {
  getEvent,
  listEvents,
  loadVerifierKey,
  proveEvent,
  verifyWorkspaceLog,
  viewOf,
  type AuditDeps,
  type AuditEventView,
  type EventQuery,
} from './service/audit-service.js';
import type { VerifyProblem } from './verify/log-verifier.js';
import type { AuditVerifyReport } from './verify/verify-workspace.js';
import {
  KEY_TRANSITION_HEADER,
  parseCosignerVkey,
  verifyExportEvidence,
  witnessMethods,
  type BundleEvidenceReport,
  type WitnessConfig,
  type WitnessFiles,
  type WitnessReport,
} from './witness/index.js';

export type { AuditEventView, AuditVerifyReport, BundleVerifyReport, EventQuery, ExportResult, ProofCheck };
export type { VerifyProblem };
export type { BundleEvidenceReport, WitnessConfig, WitnessReport };
export { PROOF_FORMAT };
/** Parses a witness's cosignature vkey (INVALID_INPUT when it is not one): shells check keys up front. */
export { parseCosignerVkey };
/** The add-checkpoint request header that carries a log's audit-key transitions to its witnesses. */
export { KEY_TRANSITION_HEADER };

/** One stored event as logged, and whether its bytes still hash to its leaf. */
export interface StoredEvent {
  index: number;
  leafHash: string;
  event: unknown;
  tampered: boolean;
}

export interface CheckpointView {
  size: number;
  root: string;
  note: string;
  /** False when the log had not grown since the latest checkpoint, which is returned instead. */
  created: boolean;
  /** The log's audit-key transitions (index of the keys.rotate event, its signed statement): how a client follows a rotation. */
  keyTransitions?: Array<{ index: number; statement: string }>;
  verifierKey: string;
  /** How the checkpoint stands with the log's witnesses; null when none are configured. */
  witnessing?: WitnessReport | null;
}

export interface WorkspaceVerifyOptions {
  againstFile?: string;
  key?: string;
  deep?: boolean;
  /** Also re-hash every stored object (the store's ports come from app/). */
  artifacts?: boolean;
  onProgress?: (n: number, total: number) => void;
}

export interface AuditService {
  events(query: EventQuery): Promise<AuditEventView[]>;
  event(index: number): Promise<StoredEvent>;
  prove(index: number): Promise<InclusionBundle & { verifierKey: string }>;
  checkpoint(): Promise<CheckpointView>;
  /** The consistency proof (hex hashes) from the tree of size `from` to the tree of size `to`. */
  consistency(from: number, to: number): Promise<string[]>;
  verify(opts: WorkspaceVerifyOptions): Promise<AuditVerifyReport>;
  /** Writes a self-contained bundle (log, checkpoints, proofs, verify.sh); audited. */
  export(dir: string): Promise<ExportResult>;
  /** The witnesses this log sends its checkpoints to, and its k-of-n policy. */
  witnessConfig(): Promise<WitnessConfig & { where: string }>;
  /** Adds (or replaces, by URL) a witness; audited. */
  addWitness(url: string, vkey: string): Promise<WitnessConfig>;
  /** Removes the witness with this URL, vkey or name; audited. */
  removeWitness(which: string): Promise<WitnessConfig>;
  /** Sets k: a checkpoint counts as witnessed with k valid cosignatures; audited. */
  setWitnessPolicy(k: number): Promise<WitnessConfig>;
  /** Sets (url) or removes (null) the RFC 3161 timestamp authority and the CA its tokens must chain to; audited. */
  setTimestampAuthority(url: string | null, caPem: string | null): Promise<{ url: string; ca: string | null } | null>;
  /** How the latest checkpoint stands with the witnesses; `ask` sends it to those that have not cosigned it. */
  witnessed(opts: { ask: boolean }): Promise<WitnessReport>;
  /**
   * Hands the log over to a new audit key (a new file key, or a key pair already in a PKCS #11
   * token): a `keys.rotate` event signed by the old key and countersigned by the new one.
   */
  rotateKey(next: AuditKeyRotationRequest): Promise<AuditKeyRotationView>;
}

export interface AuditKeyRotationRequest {
  pkcs11?: { module: string; tokenLabel: string; keyLabel: string; pinEnv: string };
}

export interface AuditKeyRotationView {
  from: string;
  to: string;
  /** The index of the `keys.rotate` event. */
  index: number;
  checkpoint: { size: number; root: string; note: string };
  custody: 'file' | 'pkcs11';
  /** True when this call finished a rotation an earlier one had recorded but not put in place. */
  resumed: boolean;
}

/** Checks that need no workspace: a bundle or a proof file against a key the caller trusts. */
export const offlineAudit = {
  verifyBundle: (dir: string, trusted?: NoteVerifier, against?: string): Promise<BundleVerifyReport> =>
    verifyBundle(dir, trusted, against),
  verifyProof: (text: string, trusted?: NoteVerifier): ProofCheck => checkProofFile(text, trusted),
  verifyBundleEvidence: verifyExportEvidence,
  loadVerifierKey,
  followCheckpoint,
};

/**
 * A client's check of a server's log: `note` must be signed by the key the client pinned, for the
 * origin it expects, and (when the client saw an earlier checkpoint) extend it by `proof`. A server
 * that rewrote history cannot pass this for a client that saw the old one. Returns what to remember.
 */
function followCheckpoint(
  note: string,
  key: NoteVerifier,
  origin: string,
  seen: { size: number; root: string } | null,
  proof: readonly string[],
  transitions: ReadonlyArray<{ index: number; statement: string }> = [],
): { size: number; root: string; key: string } {
  let cp;
  // A rotated server: follow its signed transitions from the pinned key (docs/AUDIT.md §8). Only
  // a transition the then-current key signed moves the pin; any other key change is refused.
  let current = chainKey(formatVerifierKey(key.name, rawPublicKey(key.publicKey)));
  let lastFollowed = -1;
  for (const t of [...transitions].sort((a, b) => a.index - b.index)) {
    if (typeof t?.statement !== 'string' || !Number.isSafeInteger(t.index)) continue;
    if (!t.statement.includes(`\nfrom ${current.vkey}\n`)) continue;
    try {
      current = openKeyTransition(t.statement, origin, current).next;
      lastFollowed = t.index;
    } catch {
      // Not signed by the key this client trusts: it moves nothing.
    }
  }
  try {
    const opened = openCheckpoint(note, [current]);
    if (opened.verified.length === 0) throw new Error('not signed by the pinned key');
    cp = opened.checkpoint;
  } catch (err) {
    throw new CairnError('SIGNATURE_INVALID', `the server's checkpoint does not verify: ${(err as Error).message}`, {
      hint: 'the server is not the one this client logged in to, or its key changed without a signed key transition; log in again only if an admin confirms a key change',
    });
  }
  if (cp.size <= lastFollowed)
    throw new CairnError(
      'SIGNATURE_INVALID',
      `the server's checkpoint (size ${cp.size}) does not cover the key transition at entry ${lastFollowed} it is signed after`,
    );
  if (cp.origin !== origin)
    throw new CairnError('AUDIT_INCONSISTENT', `the server's checkpoint is for ${cp.origin}, not ${origin}`);
  const root = cp.rootHash.toString('hex');
  if (seen) {
    const ok =
      cp.size >= seen.size &&
      verifyConsistency(
        seen.size,
        cp.size,
        Buffer.from(seen.root, 'hex'),
        cp.rootHash,
        proof.map((p) => Buffer.from(p, 'hex')),
      );
    if (!ok)
      throw new CairnError(
        'AUDIT_INCONSISTENT',
        `the server's audit log (size ${cp.size}) does not extend the one this client saw (size ${seen.size}): history was rewritten`,
        { data: { seen, now: { size: cp.size, root } } },
      );
  }
  return { size: cp.size, root, key: current.vkey };
}

export interface AuditServicePorts extends AuditDeps {
  meta: AuditDeps['meta'] & { db: Kysely<Database> };
  origin: string;
  witnessing?: { files: WitnessFiles; timeoutMs: number };
  /** Where the log's keys are kept (app/): absent where they cannot be rotated from here. */
  rotateKey?: (next: AuditKeyRotationRequest) => Promise<AuditKeyRotationView>;
  store: () => { index: BlobIndex; packs: LocalPackDir; pool: WorkerPool; load: TreeLoader };
}

export function createAuditService(ports: AuditServicePorts): AuditService {
  const verifierKey = () => formatVerifierKey(ports.origin, ports.audit.keys.rawPublicKey);
  const witnesses = witnessMethods(ports);
  return {
    events: (query) => listEvents(ports, query),
    async event(index) {
      const row = await getEvent(ports, index);
      const v = viewOf(row);
      return { index, leafHash: row.leaf_hash, event: v.event, tampered: v.tampered };
    },
    prove: (index) => proveEvent(ports, index),
    consistency: (from, to) => ports.audit.consistency(from, to),
    async checkpoint() {
      const made = await ports.audit.checkpoint();
      const cp = made ?? (await ports.audit.latestCheckpoint());
      if (!cp) throw new CairnError('NOT_FOUND', 'the audit log is empty');
      return {
        ...cp,
        created: made !== null,
        verifierKey: verifierKey(),
        keyTransitions: (await ports.audit.keyRotations()).map(({ index, statement }) => ({ index, statement })),
        witnessing: await witnesses.afterCheckpoint(cp.note),
      };
    },
    witnessConfig: witnesses.witnessConfig,
    addWitness: witnesses.addWitness,
    removeWitness: witnesses.removeWitness,
    setWitnessPolicy: witnesses.setWitnessPolicy,
    witnessed: witnesses.witnessed,
    setTimestampAuthority: witnesses.setTimestampAuthority,
    async rotateKey(next) {
      if (!ports.rotateKey)
        throw new CairnError('UNSUPPORTED', 'the audit key of this log cannot be rotated from here');
      const r = await ports.rotateKey(next);
      // Witnesses pin the log's key: they learn the new one from the cosigned transition checkpoint.
      await witnesses.afterCheckpoint(r.checkpoint.note);
      return r;
    },
    verify: ({ artifacts, ...opts }) =>
      verifyWorkspaceLog(ports, { ...opts, ...(artifacts ? { artifacts: ports.store() } : {}) }),
    export: (dir) =>
      ports.audit.audited(
        { action: 'audit.export', target: { type: 'audit-log', name: ports.origin } },
        async (commit, draft) => {
          const res = await exportBundle(ports.meta.db, ports.audit, dir);
          // The latest checkpoint's cosignatures and token travel with it (docs/AUDIT.md §8).
          const latest = await ports.audit.latestCheckpoint();
          if (latest) await witnesses.afterCheckpoint(latest.note);
          if (ports.witnessing) Object.assign(res, { evidence: await ports.witnessing.files.exportTo(dir) });
          await commit(async () => {
            draft.params = { size: res.size, root: res.root, checkpoints: res.checkpoints };
          });
          return res;
        },
      ),
  };
}
