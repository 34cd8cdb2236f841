/** Bytes before the first ring slot: one Int32 state per slot. */
export const RING_HEADER = 64;
export const MAX_RING_SLOTS = 16;

/** Messages between the main thread and the storage workers (structured-clone safe). */

export interface WorkerError {
  code: string;
  message: string;
  path?: string;
  blob?: string;
  /** The file (as the tree names it) that failed a whole-file check. */
  file?: string;
}

export interface FileStat {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/**
 * A batch of small files, packed so that a batch of 512 costs two clones, not 512 objects each
 * way (at 10^5 files the per-file objects of the old messages were a tenth of the main thread).
 */
export interface SmallFileTask {
  type: 'small';
  /** Absolute paths joined by NUL (no path holds one). */
  paths: string;
  /** The walk's size of each file: the room reserved for it in `data`. */
  sizes: Float64Array;
}

/** Per file in a small-file reply: SMALL_FIELDS numbers (see SMALL_*), then 32 digest bytes. */
export const SMALL_FIELDS = 2;
/** Bytes read (the file's length when read). */
export const SMALL_SIZE = 0;
/** Where its bytes start in `data`. */
export const SMALL_OFFSET = 1;

export interface SmallFileReply {
  type: 'small-result';
  /** SMALL_FIELDS numbers per file. */
  meta: Float64Array;
  /** The SHA-256 of each file, 32 bytes each. */
  digests: ArrayBuffer;
  /** Files that could not be read, by index (their meta and digest are zero). */
  errors: Array<{ index: number; error: WorkerError }>;
  data: ArrayBuffer;
}

export interface LargeFileTask {
  type: 'large';
  path: string;
  /**
   * 'split': only read and find chunk boundaries (ids come back empty); the caller hashes
   * whole file and chunks elsewhere, spreading one big file over several threads.
   * 'full': also hash, all in this worker.
   */
  mode: 'split' | 'full';
  /** Shared ring: an Int32 state per slot (0 free, 1 taken) in the first 64 bytes, then the slots. */
  ring: SharedArrayBuffer;
  slots: number;
  slotSize: number;
  chunkParams: { min: number; avg: number; max: number };
}

export interface LargeChunksMessage {
  type: 'large-chunks';
  /** Ring slot holding the bytes; chunk offsets are relative to the slot's start. */
  slot: number;
  chunks: Array<{ id: string; offset: number; length: number }>;
}

export interface LargeDoneMessage {
  type: 'large-done';
  digest: string;
  size: number;
  chunkCount: number;
  stat: FileStat;
}

export interface MaterializeSegment {
  packPath: string;
  packOffset: number;
  length: number;
  id: string;
  fileOffset: number;
}

export interface MaterializeFile {
  target: string;
  /** Create the file exclusively with this mode; otherwise it exists already (a split large file). */
  create?: number;
  segments: MaterializeSegment[];
  /**
   * The whole file is in `segments`, in order: hash it as it is written and fail unless it
   * has exactly this size and SHA-256 (`label` names the file in the error).
   */
  verify?: { digest: string; size: number; label: string };
}

/** Re-reads a written file (one assembled by several tasks) and checks its size and SHA-256. */
export interface VerifyFileTask {
  type: 'verify-file';
  path: string;
  size: number;
  digest: string;
  label: string;
  /** Where its chunks are stored, to name a damaged one when the file does not match. */
  segments: MaterializeSegment[];
}

export interface MaterializeTask {
  type: 'materialize';
  files: MaterializeFile[];
}

/** What a worker found re-hashing one pack (fsck, audit verify --artifacts). */
export interface PackCheckResult {
  ok: boolean;
  /** Why the pack as a whole is unreadable (missing, bad footer or index). */
  error?: string;
  entries: Array<{ id: string; offset: number; length: number; kind: number }>;
  badBlobs: string[];
  bytes: number;
}

export interface CheckPackTask {
  type: 'check-pack';
  path: string;
  packId: string;
}

/** SHA-256 of ranges of shared memory (a ring slot). */
export interface HashChunksTask {
  type: 'hash-chunks';
  ring: SharedArrayBuffer;
  offset: number;
  length: number;
  chunks: Array<{ offset: number; length: number }>;
}

export interface HashChunksReply {
  type: 'done';
  result: { ids: string[] };
}

/** Digests only (status, checkout conflict checks): nothing is stored, no bytes come back. */
export interface HashTask {
  type: 'hash';
  files: Array<{ path: string }>;
  chunkParams: { min: number; avg: number; max: number };
}

export type HashResult =
  { ok: true; digest: string; size: number; chunks: string[]; stat: FileStat } | { ok: false; error: WorkerError };

/** Compares directories with their stat-cache records (statcache/check-folders.ts). */
export interface CheckFoldersTask {
  type: 'check-folders';
  /** The whole cache file; shared, so every worker reads it without a copy. */
  cache: SharedArrayBuffer;
  length: number;
  /** The cache file, read by the worker for its records' range (checked to be the same inode). */
  file: { path: string; ino: number; size: number; mtimeMs: number; ctimeMs: number };
  records: Array<{ offset: number; end: number; path: string; entriesAt: number; dirAt: number }>;
  root: string;
  scannedAtMs: number;
}

export type WorkerTask =
  | SmallFileTask
  | LargeFileTask
  | MaterializeTask
  | CheckPackTask
  | HashTask
  | HashChunksTask
  | VerifyFileTask
  | CheckFoldersTask;

export type WorkerReply =
  | SmallFileReply
  | LargeChunksMessage
  | LargeDoneMessage
  | { type: 'done'; result?: unknown }
  | { type: 'error'; error: WorkerError };

export interface Envelope<T> {
  taskId: number;
  msg: T;
}
