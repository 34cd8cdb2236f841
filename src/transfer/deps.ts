import type { DatasetDeps } from '../datasets/index.js';

/** What transfers need from a workspace (app/ wires it). */
export interface TransferDeps extends DatasetDeps {
  cairnDir: string;
  workspaceId: string;
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
