import { CairnError } from '../../../core/errors.js';
import { isTransientNetworkError } from '../retry.js';
import { SFTP_STATUS, sftpStatus } from './sftp-io.js';

/** An error raised because the connection went away under an operation: worth a new connection. */
export class ConnectionDropped extends Error {
  constructor(readonly original: unknown) {
    super((original as Error)?.message ?? String(original));
  }
}

// ssh2 reports a lost connection with plain Errors that carry no code; these are its messages
// (and sftp-io's) for that case.
const DROPPED_MESSAGE =
  /No response from server|Not connected|channel is closed|Connection lost|Keepalive timeout|Timed out while waiting for handshake|closed the connection/i;

/**
 * Worth another connection and attempt: network failures and drops. Not: SFTP answers such as
 * no-such-file or permission-denied, login or host-key refusals (CairnErrors).
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionDropped) return true;
  if (err instanceof CairnError) return false;
  const status = sftpStatus(err);
  if (status !== undefined) return status === SFTP_STATUS.NO_CONNECTION || status === SFTP_STATUS.CONNECTION_LOST;
  const level = (err as { level?: string })?.level;
  if (level === 'client-socket' || level === 'client-timeout') return true;
  return isTransientNetworkError(err) || DROPPED_MESSAGE.test((err as Error)?.message ?? '');
}
