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
import { formatVerifierKey, type NoteVerifier } from './note/index.js';
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

export type { AuditEventView, AuditVerifyReport, BundleVerifyReport, EventQuery, ExportResult, ProofCheck };
export type { VerifyProblem };
export { PROOF_FORMAT };

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
  verifierKey: string;
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
  verify(opts: WorkspaceVerifyOptions): Promise<AuditVerifyReport>;
  /** Writes a self-contained bundle (log, checkpoints, proofs, verify.sh); audited. */
  export(dir: string): Promise<ExportResult>;
}

/** Checks that need no workspace: a bundle or a proof file against a key the caller trusts. */
export const offlineAudit = {
  verifyBundle: (dir: string, trusted?: NoteVerifier, against?: string): Promise<BundleVerifyReport> =>
    verifyBundle(dir, trusted, against),
  verifyProof: (text: string, trusted?: NoteVerifier): ProofCheck => checkProofFile(text, trusted),
  loadVerifierKey,
};

export interface AuditServicePorts extends AuditDeps {
  meta: AuditDeps['meta'] & { db: Kysely<Database> };
  origin: string;
  store: () => { index: BlobIndex; packs: LocalPackDir; pool: WorkerPool; load: TreeLoader };
}

export function createAuditService(ports: AuditServicePorts): AuditService {
  const verifierKey = () => formatVerifierKey(ports.origin, ports.audit.keys.rawPublicKey);
  return {
    events: (query) => listEvents(ports, query),
    async event(index) {
      const row = await getEvent(ports, index);
      const v = viewOf(row);
      return { index, leafHash: row.leaf_hash, event: v.event, tampered: v.tampered };
    },
    prove: (index) => proveEvent(ports, index),
    async checkpoint() {
      const made = await ports.audit.checkpoint();
      const cp = made ?? (await ports.audit.latestCheckpoint());
      if (!cp) throw new CairnError('NOT_FOUND', 'the audit log is empty');
      return { ...cp, created: made !== null, verifierKey: verifierKey() };
    },
    verify: ({ artifacts, ...opts }) =>
      verifyWorkspaceLog(ports, { ...opts, ...(artifacts ? { artifacts: ports.store() } : {}) }),
    export: (dir) =>
      ports.audit.audited(
        { action: 'audit.export', target: { type: 'audit-log', name: ports.origin } },
        async (commit, draft) => {
          const res = await exportBundle(ports.meta.db, ports.audit, dir);
          await commit(async () => {
            draft.params = { size: res.size, root: res.root, checkpoints: res.checkpoints };
          });
          return res;
        },
      ),
  };
}
