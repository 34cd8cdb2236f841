import { CairnError } from '../core/errors.js';
import type { ReadDb } from '../meta/read-db.js';
import { erasureOfDigest } from '../meta/repos/retention.js';

/**
 * Refuses to read a version whose bytes were erased on purpose: the caller gets ERASED with when,
 * by whom and why, instead of a missing-object error that reads like a damaged store.
 */
export async function assertNotErased(db: ReadDb, digest: string, what: string): Promise<void> {
  const e = await erasureOfDigest(db, digest);
  if (!e) return;
  throw new CairnError('ERASED', `${what} was erased on ${e.erased_at} by ${e.erased_by}: its bytes are gone`, {
    data: { digest: `sha256:${digest}`, erasedAt: e.erased_at, erasedBy: e.erased_by, reason: e.reason },
    hint: 'its record, lineage and audit events remain (cairn data show, cairn lineage --down); the data cannot be checked out again',
  });
}
