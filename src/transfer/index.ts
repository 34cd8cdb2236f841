// The transfer domain: remotes (settings, keys) and moving versions to and from them (push, pull,
// clone). Nothing outside transfer/ imports its other files (lint: layers/imports). app/ chooses
// the backend for a remote's URL and reads remotes.json; transfer receives both as a port.
import type { GetOptions, MultipartUploads, PresignedRequest, PresignOptions, RemoteBackend } from './backends/port.js';
import type { S3BackendOptions } from './backends/s3/s3-backend.js';
import type { SshBackendOptions } from './backends/ssh/ssh-backend.js';

export {
  createRemoteSettings,
  createTransferService,
  type PullOptions,
  type RemoteSettings,
  type TransferService,
} from './service.js';
export type { BackendOptions, RemotesPort, TransferDeps, TransferOptions, TransferProgress } from './deps.js';
export type { CloneResult } from './clone.js';
export type { PullResult } from './pull.js';
export type { PushResult } from './push.js';
export { remoteConfigFrom, type AddRemoteOptions, type RemoteInfo } from './remote-admin.js';
export { eraseOnRemotes, planRemoteErasure, type RemoteErasure, type RemotePlan } from './remote-erase.js';
export {
  describeUnvouched,
  describeUnvouchedModel,
  modelEdgeTravels,
  type ImportedModelVersion,
  type ImportedVersion,
  type UnvouchedModelVersion,
  type UnvouchedVersion,
} from './vouch.js';
export { describeUnvouchedRun, type ImportedRun, type UnvouchedRun } from './vouch-runs.js';

// For app/, which reads remotes.json and builds the backend a remote's URL names.
export {
  formatRemotesFile,
  parseRemotesFile,
  pickRemote,
  type RemoteConfig,
  type RemotesFile,
} from './remotes-file.js';
export { parseRemoteUrl, type RemoteLocation } from './remote-url.js';
export { parseRemoteKey } from './crypto/remote-keys.js';
export { FsBackend } from './backends/fs/fs-backend.js';
export type {
  GetOptions,
  MultipartUploads,
  PresignedRequest,
  PresignOptions,
  RemoteBackend,
  S3BackendOptions,
  SshBackendOptions,
};
// For app/'s team-server client, which retries each part of a presigned multipart upload.
export { withRetry } from './backends/retry.js';

/** The S3 backend; its SDK loads only when a remote needs it. */
export async function s3Backend(opts: S3BackendOptions): Promise<RemoteBackend> {
  const { S3Backend } = await import('./backends/s3/s3-backend.js');
  return new S3Backend(opts);
}

/** The SSH backend; ssh2 loads only when a remote needs it. */
export async function sshBackend(opts: SshBackendOptions): Promise<RemoteBackend> {
  const { SshBackend } = await import('./backends/ssh/ssh-backend.js');
  return new SshBackend(opts);
}

// What models/ (lock.ts: `cairn fetch`) builds on: a remote's state and pulling versions by digest.
export { pull } from './pull.js';
export { packListError, packListFault, type CoverSource, type PackListFault } from './pack-cover.js';
export { TRAVELLING_RUNS, versionPacks } from './state-db.js';
export { openRemote, type OpenedRemote } from './open-remote.js';
export { MAX_STATE_BYTES, readState, writeState } from './remote-layout.js';
export { emptyState, mergeState, parseState } from './state.js';
export type { EvaluationStateRow, RemoteState, RunStateRow } from './state.js';
// For the team server, which serves its store's state cut to what a reader's share of its log vouches for.
export { collectEvaluationVouchers } from './vouch-evaluations.js';
export { collectRunVouchers } from './vouch-runs.js';
