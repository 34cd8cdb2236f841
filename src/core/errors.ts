/**
 * One error family for the whole code base. Every error has a stable string `code` that
 * scripts may match on; the table below is the only place that decides how a code maps to a
 * CLI exit status or an HTTP status, so the shells never guess.
 */
export const errorCatalogue = {
  USAGE: { exit: 2, http: 400, summary: 'The command line or request is malformed.' },
  INVALID_NAME: { exit: 2, http: 400, summary: 'A dataset, tag or remote name breaks the naming rules.' },
  INVALID_REF: {
    exit: 2,
    http: 400,
    summary: 'A ref is not of the form name, name@vN, name@tag or name@sha256:prefix.',
  },
  INVALID_INPUT: { exit: 1, http: 422, summary: 'An input file or value is malformed.' },
  CONFIG_INVALID: { exit: 1, http: 500, summary: 'The workspace configuration cannot be read.' },
  WORKSPACE_NOT_FOUND: { exit: 1, http: 404, summary: 'No .cairn workspace here or in any parent directory.' },
  WORKSPACE_EXISTS: { exit: 1, http: 409, summary: 'A workspace already exists at that place.' },
  NOT_FOUND: { exit: 1, http: 404, summary: 'The named dataset, version, tag, object or event does not exist.' },
  AMBIGUOUS_REF: { exit: 1, http: 409, summary: 'A digest prefix matches more than one version.' },
  ALREADY_EXISTS: { exit: 1, http: 409, summary: 'The thing to create exists already.' },
  PATH_UNSAFE: { exit: 1, http: 422, summary: 'A path would escape its root (.., absolute path or outside symlink).' },
  IO_ERROR: { exit: 1, http: 500, summary: 'A file could not be read or written.' },
  LOCAL_CHANGES: { exit: 1, http: 409, summary: 'A checkout would overwrite local changes.' },
  CORRUPT_OBJECT: { exit: 1, http: 500, summary: 'Stored bytes no longer match their digest.' },
  INDEX_DAMAGED: {
    exit: 1,
    http: 500,
    summary:
      "The blob index disagrees with the packs' own indexes (a row missing or pointing at the wrong pack); gc refuses until it is repaired.",
  },
  MISSING_OBJECT: { exit: 1, http: 500, summary: 'A stored object that metadata refers to is missing.' },
  PERMISSION_DENIED: { exit: 1, http: 403, summary: 'The acting identity may not do this.' },
  UNAUTHENTICATED: {
    exit: 1,
    http: 401,
    summary: 'A server request carried no valid credential (missing, malformed, expired or revoked token).',
  },
  PAYLOAD_TOO_LARGE: { exit: 1, http: 413, summary: 'A request body is larger than the server accepts.' },
  REQUEST_TIMEOUT: {
    exit: 1,
    http: 408,
    summary: 'A request body stalled or came too slowly; the server closed the connection and did nothing.',
  },
  UPLOADS_BUSY: {
    exit: 1,
    http: 429,
    summary:
      "An account already has as many uploads waiting for the server's upload memory as it may; retry after the Retry-After the answer gives.",
  },
  SERVER_UNAVAILABLE: { exit: 1, http: 503, summary: 'The Cairn server could not be reached or is not ready.' },
  IDENTITY_MOVED: {
    exit: 1,
    http: 503,
    summary: 'Tokens or grants changed while a server request was being answered; it is checked again.',
  },
  IDEMPOTENCY_CONFLICT: {
    exit: 1,
    http: 409,
    summary: 'An idempotency key was reused for a different request.',
  },
  NOT_ON_SERVER: {
    exit: 1,
    http: 501,
    summary: 'The command works on a local workspace but not (yet) against a Cairn server.',
  },
  UPLOAD_MISMATCH: {
    exit: 1,
    http: 422,
    summary: 'Uploaded bytes do not match the size or digest the upload was planned with; nothing was recorded.',
  },
  UPLOAD_UNKNOWN: {
    exit: 1,
    http: 410,
    summary: 'An upload id the server did not plan, already used or expired (a replayed or stale upload).',
  },
  LOCKED: { exit: 1, http: 423, summary: 'Another process holds a lock this operation needs.' },
  LIMIT_EXCEEDED: {
    exit: 1,
    http: 422,
    summary:
      'An input would need far more than it stores (e.g. a tree that expands to billions of paths); refused before allocating.',
  },
  ERASED: {
    exit: 1,
    http: 410,
    summary: 'The bytes of this version were erased on purpose (cairn data erase); its record and digests remain.',
  },
  HELD: {
    exit: 1,
    http: 423,
    summary: 'A legal hold or retention period protects this version; it cannot be erased until lifted or lapsed.',
  },
  CHECK_FAILED: { exit: 1, http: 422, summary: 'A verification found problems (fsck, audit verify).' },
  AUDIT_INCONSISTENT: { exit: 1, http: 500, summary: 'The audit log does not extend its last signed checkpoint.' },
  STATE_MISMATCH: { exit: 1, http: 409, summary: 'A metadata row differs from what the audit log recorded for it.' },
  SIGNATURE_INVALID: { exit: 1, http: 422, summary: 'A signature does not verify.' },
  UNTRUSTED_KEY: {
    exit: 1,
    http: 422,
    summary: 'No trusted key was given, so a signature check could only show self-consistency.',
  },
  NOT_VOUCHED: {
    exit: 1,
    http: 422,
    summary: "A remote's version is vouched for by no event of a verified audit log.",
  },
  PACK_LIST_MISMATCH: {
    exit: 1,
    http: 422,
    summary:
      "A version's pack list (from a remote or a push) misses objects its tree needs or names packs holding none; nothing was recorded.",
  },
  POLICY_UNMET: {
    exit: 1,
    http: 403,
    summary: "A promotion does not meet the alias's policy (suites passed, approvals).",
  },
  RUN_FAILED: {
    exit: 1,
    http: 422,
    summary: 'A run ended without success (non-zero exit, time limit, node failure, cancel).',
  },
  BUDGET_EXCEEDED: {
    exit: 1,
    http: 402,
    summary: 'The run would take its project past its GPU budget for the period.',
  },
  DIVERGED: {
    exit: 1,
    http: 409,
    summary: 'A remote and this workspace hold different content under the same name (pull or rename first).',
  },
  ALIAS_MOVED: {
    exit: 1,
    http: 409,
    summary: 'An alias moved between the check of a request and its effect; nothing was done (try again).',
  },
  SECRET_IN_INPUT: {
    exit: 1,
    http: 422,
    summary: 'A field holds what looks like a credential (a Cairn token, a cloud key); it was not recorded.',
  },
  DB_ERROR: { exit: 1, http: 500, summary: 'The metadata database failed.' },
  UNSUPPORTED: { exit: 1, http: 501, summary: 'The format version or feature is not supported.' },
  INTERNAL: { exit: 1, http: 500, summary: 'A bug in Cairn; please report it with the command that caused it.' },
} as const satisfies Record<string, { exit: 1 | 2; http: number; summary: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface CairnErrorOptions {
  data?: Record<string, unknown>;
  cause?: unknown;
  /** A concrete next step for the user, printed after the message. */
  hint?: string;
}

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.data = options.data ?? {};
    this.hint = options.hint;
  }

  get exitCode(): 1 | 2 {
    return errorCatalogue[this.code].exit;
  }

  get httpStatus(): number {
    return errorCatalogue[this.code].http;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), data: this.data };
  }
}

export function isCairnError(err: unknown, code?: ErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}

/** Wraps a Node system error (ENOENT, EACCES, ENOSPC…) with the path it concerned. */
export function ioError(err: unknown, action: string, path: string): CairnError {
  if (err instanceof CairnError) return err;
  const sys = err as NodeJS.ErrnoException;
  const why =
    sys?.code === 'ENOENT'
      ? 'it does not exist'
      : sys?.code === 'EACCES' || sys?.code === 'EPERM'
        ? 'permission denied'
        : sys?.code === 'ENOSPC'
          ? 'the disk is full'
          : sys?.code === 'EISDIR'
            ? 'it is a directory'
            : sys?.code === 'ENOTDIR'
              ? 'a parent is not a directory'
              : (sys?.message ?? String(err));
  return new CairnError('IO_ERROR', `cannot ${action} ${path}: ${why}`, {
    data: { path, errno: sys?.code ?? null },
    cause: err,
  });
}
