import type { DatasetDeps } from '../datasets/index.js';
import type { RemoteBackend } from './backends/port.js';
import type { RemoteConfig, RemotesFile } from './remotes-file.js';

export interface BackendOptions {
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
}

/**
 * The workspace's remotes, as app/ provides them: it reads and writes remotes.json and turns a
 * remote's URL into a backend (file, S3 or SSH, with the defaults it took from the environment),
 * so transfer code reads no config file or environment variable itself.
 */
export interface RemotesPort {
  /** The named remotes (remotes.json, validated; none when the file does not exist). */
  load(): RemotesFile;
  save(file: RemotesFile): Promise<void>;
  /** The backend a remote's URL names; its client library loads only when used. */
  backend(config: RemoteConfig, opts?: BackendOptions): Promise<RemoteBackend>;
}

/** What transfers need from a workspace (app/ wires it). */
export interface TransferDeps extends DatasetDeps {
  cairnDir: string;
  workspaceId: string;
  remotes: RemotesPort;
}

export interface TransferProgress {
  /** Bytes moved so far of `total`; `note` says what is being done. */
  update(done: number, total: number, note?: string): void;
}

export interface TransferOptions {
  remote?: string;
  jobs?: number;
  bwlimit?: number;
  progress?: TransferProgress;
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
}

export const DEFAULT_JOBS = 4;
