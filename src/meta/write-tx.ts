import type { Transaction } from 'kysely';
import type { Database } from './schema.js';

declare const audited: unique symbol;

/**
 * A metadata transaction that is guaranteed to append an audit event before it commits.
 * Every repository function that changes state takes a WriteTx, and the only code that can
 * make one is the audit log's `withAudit` (src/audit/log/with-audit.ts; the lint config
 * forbids importing the factory anywhere else). So there is no mutation path without an event.
 */
export interface WriteTx {
  readonly db: Transaction<Database>;
  readonly [audited]: true;
}
