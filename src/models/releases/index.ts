export {
  CAIRN_RUN_BUILD_TYPE,
  SLSA_PROVENANCE_V1,
  STATEMENT_TYPE,
  buildStatement,
  datasetUri,
  parseStatement,
  subjectsOf,
} from './statement.js';
export type {
  DigestSet,
  ParamValue,
  ProvenancePredicate,
  ReleaseFacts,
  ResourceDescriptor,
  Statement,
  Subject,
} from './statement.js';
export {
  IN_TOTO_PAYLOAD_TYPE,
  keyIdOf,
  pae,
  parseEnvelope,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
} from './dsse.js';
export type { DeviceSigner, DsseEnvelope, DsseSignature, EnvelopeCheck, SigningKey } from './dsse.js';
export {
  BUNDLE_FILES,
  EVALUATIONS_DIR,
  MANIFEST_PAYLOAD_TYPE,
  MODEL_DIR,
  PROOFS_DIR,
  RELEASE_FORMAT,
  checkReleasePath,
  manifestBytes,
  parseManifest,
  releasePathProblem,
} from './manifest.js';
export type { ManifestFile, ReleaseManifest } from './manifest.js';
export { verifyReleaseBundle, writeReleaseBundle } from './bundle.js';
export type {
  ReleaseModelFile,
  ReleaseProblem,
  ReleaseProblemCode,
  ReleaseVerifyReport,
  VerifyReleaseOptions,
  WriteReleaseOptions,
  WriteReleaseResult,
} from './bundle.js';
export { VERIFY_PY } from './verify-py.js';
export {
  RELEASE_KEY_CHAIN_FORMAT,
  RELEASE_KEY_TRANSITION_FORMAT,
  RELEASE_KEY_TRANSITION_TYPE,
  followReleaseKeyChain,
  formatReleaseKeyChain,
  openReleaseKeyTransition,
  parseReleaseKeyChain,
  releaseKeyRef,
  signReleaseKeyTransition,
} from './key-transition.js';
export type { ChainedKey, RecordedTransition, ReleaseKeyRef, ReleaseKeyTransition } from './key-transition.js';
