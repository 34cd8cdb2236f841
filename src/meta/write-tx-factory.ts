import type { Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { WriteTx } from './write-tx.js';

/** Only src/audit/log/ may import this (enforced by eslint no-restricted-imports). */
export function makeWriteTx(db: Transaction<Database>): WriteTx {
  return { db } as unknown as WriteTx;
}
