export {
  COSIGNATURE_V1_TYPE,
  cosign,
  cosignedMessage,
  cosignerKeyId,
  cosignerOf,
  formatCosignerVkey,
  parseCosignerVkey,
  signatureLines,
  verifyCosignatures,
} from './cosignature.js';
export type { Cosigner, CosignerKey, VerifiedCosignature } from './cosignature.js';
export {
  KEY_TRANSITION_HEADER,
  MAX_PROOF_LINES,
  MAX_REQUEST_BYTES,
  formatAddCheckpoint,
  formatTransitionHeader,
  parseAddCheckpoint,
  parseSizeBody,
  parseTransitionHeader,
} from './request.js';
export type { AddCheckpointRequest, PresentedTransition } from './request.js';
export { decideAddCheckpoint, originOf } from './witness-core.js';
export type { AddCheckpointOutcome, WitnessedLog } from './witness-core.js';
export { Witness, WitnessState } from './witness-store.js';
export { requestCosignature } from './client.js';
export type { WitnessAttempt, WitnessEndpoint } from './client.js';
export {
  checkWitnessConfig,
  cosignaturesOf,
  emptyWitnessConfig,
  endpoints,
  witnessCheckpoint,
} from './log-witnessing.js';
export type { WitnessConfig, WitnessFiles, WitnessReport } from './log-witnessing.js';
export { witnessMethods } from './witness-service.js';
export { verifyBundleEvidence, verifyExportEvidence } from './bundle-evidence.js';
export type { BundleEvidenceReport } from './bundle-evidence.js';
